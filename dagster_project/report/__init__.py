"""The human-readable monthly scorecard (HTML with inline SVG charts), rendered from the published warehouse."""
