"""Ticket search: the query language (`parser`), the search documents (`index`) and the
ranked, permission-scoped query (`engine`)."""
