"""Test helper shared by the report tests: which URLs would a browser load from a page?"""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _Resources(HTMLParser):
    """Every URL a browser would load on opening the page (not plain ``<a href>`` links)."""

    _LOADS = {"link": "href", "script": "src", "img": "src", "iframe": "src", "source": "src",
              "embed": "src", "video": "src", "audio": "src", "object": "data"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.urls = re.findall(r"url\(\s*['\"]?([^)'\"]+)", text)  # CSS
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        name = self._LOADS.get(tag)
        self.urls += [v for k, v in attrs if k == name and v]


def remote_urls(text: str) -> list[str]:
    """The remote (http, https or protocol-relative) resources a page would load."""
    return [u for u in _Resources(text).urls if re.match(r"(?:https?:)?//", u.strip(), re.I)]
