"""Triggers (rules run on ticket events) and time automations (rules run on a schedule).

`models` holds the rules, `conditions` turns a rule's conditions into one query, `actions`
does what a rule says, `engine` runs them (once per cause), `tasks` are the Celery shells."""
