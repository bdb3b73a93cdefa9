"""Presentation: how the pages draw what the services read (layout, geometry, colours, units)."""
