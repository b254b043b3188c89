"""Operations: deliveries on disk, schedule, sensors, freshness, alerts, status."""
