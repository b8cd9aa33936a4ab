"""The Posting table's docstring names every kind the gateway writes (gateway.plugin_api.PostingKind)."""

from __future__ import annotations

import re
from typing import get_args

from gateway.persistence.models import Posting
from gateway.plugin_api import PostingKind


def test_the_posting_docstring_names_every_posting_kind() -> None:
    documented = set(re.findall(r"``([a-z]+)``", Posting.__doc__ or ""))
    assert set(get_args(PostingKind)) <= documented
