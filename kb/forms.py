from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class VoteForm(forms.Form):
    helpful = forms.ChoiceField(choices=[("yes", _("Yes")), ("no", _("No"))])
    comment = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
        label=_("What were you looking for? (optional)"),
    )  # fmt: skip
    search = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
