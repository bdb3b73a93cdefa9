"""Views, one module per area: dashboard, gateways, links, changes, topology, audit."""
