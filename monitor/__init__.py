"""Monitoring: Prometheus metrics, rules and Grafana dashboards for aicc."""
