"""Reading an ``rrg report`` page back: a small element tree (stdlib ``html.parser``), the checks
that it is self-contained, and its tables as plain dicts to compare with the registry.

Shared by tests/results/test_report.py and tests/engine/test_results_report.py (which loads this
file by path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
URL_ATTRIBUTES = ("src", "href", "srcset", "poster", "data", "action", "formaction", "background", "xlink:href", "ping")
FORBIDDEN_TAGS = {"script", "link", "iframe", "object", "embed", "base", "frame", "audio", "video", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        """The text content, whitespace collapsed."""
        parts: list[str] = []

        def walk(node: Element) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)

        walk(self)
        return " ".join("".join(parts).split())

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Descendants (and self) of ``tag`` whose attributes include ``attrs`` (``class_`` for class,
        matched as one of the element's classes; ``data_run`` for ``data-run``)."""
        found = []
        for node in self.iter():
            if tag is not None and node.tag != tag:
                continue
            if all(_attr_matches(node, key, value) for key, value in attrs.items()):
                found.append(node)
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs} in the page"
        return found[0]


def _attr_matches(node: Element, key: str, value: str) -> bool:
    if key == "class_":
        return value in node.attrs.get("class", "").split()
    return node.attrs.get(key.replace("_", "-")) == value


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Element(tag, {k: (v if v is not None else "") for k, v in attrs}))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return
        raise AssertionError(f"</{tag}> closes no open element")

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    """The page as an element tree (every element closed, or the parse fails)."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert [e.tag for e in builder.stack] == ["#document"], f"unclosed elements: {[e.tag for e in builder.stack[1:]]}"
    return builder.root


_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)


def assert_self_contained(html: str) -> Element:
    """Fail unless the page needs nothing beside it: no element that loads or runs something from
    elsewhere, every URL-valued attribute a ``data:`` URI (``src``) or an in-page ``#anchor``
    (``href``), no CSS ``@import`` and no ``url(...)`` but ``data:``. Returns the parsed page."""
    root = parse(html)
    for node in root.iter():
        assert node.tag not in FORBIDDEN_TAGS, f"<{node.tag} {node.attrs}> in a self-contained report"
        if node.tag == "meta":
            assert node.attrs.get("http-equiv", "").lower() != "refresh", node.attrs
        for name in URL_ATTRIBUTES:
            if name not in node.attrs:
                continue
            value = node.attrs[name].strip()
            if name == "href":
                assert value.startswith("#"), f'<{node.tag} href="{value[:80]}"> points outside the page'
            else:
                assert value.startswith("data:"), f'<{node.tag} {name}="{value[:80]}"> is not a data: URI'
        for name, value in node.attrs.items():
            assert not name.startswith("on"), f"<{node.tag} {name}=...>: an inline script handler"
        styles = [node.attrs.get("style", "")]
        if node.tag == "style":
            styles.append(node.text())
        for css in styles:
            assert "@import" not in css.lower(), f"@import in {css[:80]!r}"
            for _, target in _CSS_URL.findall(css):
                assert target.strip().startswith("data:"), f"url({target[:80]}) in the CSS"
    assert "javascript:" not in html.lower()
    return root


def data_images(root: Element) -> list[str]:
    """The ``src`` of every ``<img>``."""
    return [img.attrs["src"] for img in root.find_all("img")]


def table1(root: Element) -> dict[str, dict[str, str]]:
    """Table 1 as ``{run id: {"stage": ..., "model": ..., metric: text, "study/" + metric: text, "delta/" + metric: text}}``."""
    rows: dict[str, dict[str, str]] = {}
    for tr in root.find("table", id="table1").find("tbody").find_all("tr"):
        cells = tr.find_all("td")
        row = {"stage": cells[0].text(), "model": cells[1].text()}
        for td in tr.find_all("td"):
            if "data-metric" in td.attrs:
                row[td.attrs["data-metric"]] = td.text()
            if "data-study" in td.attrs:
                row["study/" + td.attrs["data-study"]] = td.text()
            if "data-delta" in td.attrs:
                row["delta/" + td.attrs["data-delta"]] = td.text()
        rows[tr.attrs["data-run"]] = row
    return rows


def table2(root: Element) -> dict[tuple[str, str], str]:
    """Table 2 as ``{(component, run id): value text}``."""
    cells = {}
    for tr in root.find("table", id="table2-components").find("tbody").find_all("tr"):
        for td in tr.find_all("td", class_="component-cell"):
            cells[(td.attrs["data-component"], tr.attrs["data-run"])] = td.find("span", class_="value").text()
    return cells


def shown(value: float | None) -> str:
    """How the report prints a number: three decimals, an em dash when there is none."""
    return "—" if value is None else f"{value:.3f}"
