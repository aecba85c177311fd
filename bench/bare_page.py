"""The bare page bench/pages.py compares the shop with: a Flask app that renders one cached
Jinja template (a listing of twelve cards, about the size of a shop page) and nothing else —
no database, no session, no hooks. What the machine and gunicorn give before the shop's work."""

from __future__ import annotations

from flask import Flask, render_template
from jinja2 import DictLoader

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><header><nav>{% for c in categories %}<a href="/category/{{ c }}">{{ c }}</a>
{% endfor %}</nav></header>
<main><h1>{{ title }}</h1><ul class="cards">
{% for card in cards %}<li class="card"><a href="/products/{{ card.slug }}">
<img src="/media/{{ card.id }}" alt="{{ card.name }}" width="400" height="400">
<span class="card-name">{{ card.name }}</span>
<span class="card-price">${{ "%.2f"|format(card.cents / 100) }}</span></a></li>
{% endfor %}</ul></main></body></html>
"""
CARDS = [
    {"id": n, "slug": f"gen-{n:05d}", "name": f"Stoneware Mug No. {n}", "cents": 1000 + n * 37}
    for n in range(1, 13)
]
CATEGORIES = ["apparel", "home-kitchen", "stationery", "digital"]

app = Flask(__name__)
app.jinja_loader = DictLoader({"page.html": PAGE})


@app.get("/")
def page() -> str:
    return render_template("page.html", title="Bare page", cards=CARDS, categories=CATEGORIES)
