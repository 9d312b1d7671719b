"""The "log a call" form: parses and validates, nothing more."""

from __future__ import annotations

from typing import Any

from django import forms


class CallLogForm(forms.Form):
    direction = forms.ChoiceField(
        choices=[("inbound", "The customer called us"), ("outbound", "We called the customer")],
        widget=forms.RadioSelect,
        initial="inbound",
    )
    minutes = forms.IntegerField(min_value=0, max_value=600, initial=0)
    seconds = forms.IntegerField(min_value=0, max_value=59, initial=0)
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=10000
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        return {
            "direction": data["direction"],
            "duration_seconds": data["minutes"] * 60 + data["seconds"],
            "notes": data.get("notes", ""),
        }
