"""Analytics: the KPIs of a period (`kpi` the formulas, `service` the queries)."""
