"""Measuring in the browser: axe-core findings, colour contrast, and the page's own performance
entries (largest contentful paint, layout shift, script bytes)."""

from __future__ import annotations

import gzip
import re
import urllib.request

from axe_playwright_python.base import AXE_FILE_PATH

# axe-core as axe-playwright-python bundles it (axe.min.js): nothing is fetched to run it.
# Given to a browser context with add_init_script(path=AXE_SCRIPT), every page has `axe`
# ready (quicker than the package's Axe.run, which evaluates the whole script on each call).
AXE_SCRIPT = str(AXE_FILE_PATH)
SERIOUS = ("serious", "critical")


def axe_findings(page, where: str) -> list[str]:
    """Each serious or critical axe-core violation on the page: rule, target, help URL.
    The page's context must have AXE_SCRIPT as an init script."""
    results = page.evaluate("axe.run({resultTypes: ['violations']})")
    return [
        f"{where}: {v['id']} ({v['impact']}) at {node['target']} — {v['help']} {v['helpUrl']}"
        for v in results["violations"]
        if v["impact"] in SERIOUS
        for node in v["nodes"]
    ]


def parse_rgb(css: str) -> tuple[float, float, float, float]:
    """'rgb(1, 2, 3)' or 'rgba(1, 2, 3, .5)' (or Chromium's 'color(srgb r g b)') → r, g, b, a."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    if css.startswith("color(srgb"):
        numbers = [n * 255 for n in numbers[:3]] + numbers[3:]
    r, g, b, *rest = numbers
    return r, g, b, rest[0] if rest else 1.0


def luminance(rgb) -> float:
    channels = [c / 255 for c in rgb[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a, b) -> float:
    """WCAG 2 contrast ratio of two opaque colours (r, g, b[, a]), from 1 to 21."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# Installed before any page script runs: the observers see every entry from the start
# (buffered: true also replays entries recorded before they were created).
VITALS_INIT = """
window.__vitals = {lcp: 0, lcpElement: null, cls: 0, shifts: []};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__vitals.lcp = e.startTime;
    window.__vitals.lcpElement = e.element ? e.element.tagName.toLowerCase() +
      (e.element.className ? '.' + String(e.element.className).split(' ')[0] : '') : e.url;
  }
}).observe({type: 'largest-contentful-paint', buffered: true});
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (!e.hadRecentInput) {
      window.__vitals.cls += e.value;
      window.__vitals.shifts.push(e.value);
    }
  }
}).observe({type: 'layout-shift', buffered: true});
"""

READ_VITALS = """
() => ({
  ...window.__vitals,
  ttfb: performance.getEntriesByType('navigation')[0].responseStart,
  fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0,
  scripts: [
    ...new Set([
      ...performance.getEntriesByType('resource')
        .filter((e) => e.initiatorType === 'script').map((e) => e.name),
      ...[...document.scripts].filter((s) => s.src).map((s) => s.src),
    ]),
  ].map((url) => {
    const e = performance.getEntriesByName(url)[0];
    return {url, transferSize: e ? e.transferSize : 0, encodedBodySize: e ? e.encodedBodySize : 0,
            decodedBodySize: e ? e.decodedBodySize : 0};
  }),
  inlineScripts: [...document.scripts]
    .filter((s) => !s.src && !/json/.test(s.type)).map((s) => s.textContent),
})
"""


def gzipped_size(url: str) -> int:
    """The size of the body at `url` gzipped at nginx's level (nginx/holdfast.conf sets
    gzip_comp_level 5 for JavaScript)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the test server
        return len(gzip.compress(response.read(), compresslevel=5))


def compressed_script_bytes(vitals: dict) -> dict[str, int]:
    """URL → compressed bytes of each script the page loaded. The test server (werkzeug) sends
    no Content-Encoding, so transferSize/encodedBodySize are the raw bytes; each body is
    gzipped here as nginx would send it. A body that did arrive compressed (encoded smaller than
    decoded) is taken as it came."""
    sizes = {}
    for script in vitals["scripts"]:
        if 0 < script["encodedBodySize"] < script["decodedBodySize"]:
            sizes[script["url"]] = script["encodedBodySize"]
        else:
            sizes[script["url"]] = gzipped_size(script["url"])
    for n, text in enumerate(vitals["inlineScripts"]):
        sizes[f"inline #{n + 1}"] = len(gzip.compress(text.encode(), compresslevel=5))
    return sizes
