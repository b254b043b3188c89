{#-
    Join predicate: the certificate row `certificate` (of int_aeo_certificates)
    is valid on the DATE `day`, i.e. valid_from <= day < valid_until (open-ended
    when valid_until is null).
-#}
{% macro aeo_certificate_valid_on(certificate, day) -%}
    ({{ certificate }}.valid_from <= {{ day }} and ({{ certificate }}.valid_until is null or {{ day }} < {{ certificate }}.valid_until))
{%- endmacro %}
