"""A product page as a shopper's browser gets it: one fieldset per option the product has, each
value a radio input; the page for ``?size=&colour=`` (the options form without JavaScript)
shows that variant's price, stock, picture and variant_id; an htmx request gets the parts
that change and the URL to show; bad values still answer the page; the JSON-LD has an offer
per variant with its live availability."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from app.models import ProductImage
from tests.factories import ProductFactory, variant_with_stock

VOID = {"input", "img", "meta", "link", "br", "hr", "source"}


class Node:
    def __init__(self, tag: str, attrs: dict) -> None:
        self.tag, self.attrs, self.children, self.parts = tag, attrs, [], []

    @property
    def text(self) -> str:
        return " ".join(" ".join(p for p in self._texts() if p).split())

    def _texts(self):
        for part in self.parts:
            yield from (part._texts() if isinstance(part, Node) else [part])

    def all(self, tag: str | None = None, **attrs):
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                child.attrs.get(k.rstrip("_")) == v for k, v in attrs.items()
            ):
                yield child
            yield from child.all(tag, **attrs)

    def one(self, tag: str | None = None, **attrs) -> Node:
        found = list(self.all(tag, **attrs))
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


class Tree(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = Node("root", {})
        self.stack = [self.root]
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data) -> None:
        self.stack[-1].parts.append(data)


def page(client, url: str, **headers) -> Node:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return Tree(response.get_data(as_text=True)).root


def _image(db, product, colour: str | None, alt: str) -> ProductImage:
    image = ProductImage(
        product_id=product.id, data=b"<svg/>", alt=alt, colour=colour, content_type="image/svg+xml"
    )
    db.add(image)
    db.commit()
    return image


@pytest.fixture
def tee(db):
    """Sizes S, M in Navy and Sand: Navy M is $30 with 2 left, Sand M sold out, Sand S on
    back-order; a photo per colour and one of the whole product."""
    product = ProductFactory(name="Harbor Tee", slug="tee")
    rows = [("S", "Navy", 2800, 9, False), ("M", "Navy", 3000, 2, False)]
    rows += [("S", "Sand", 2800, 0, True), ("M", "Sand", 2800, 0, False)]
    v = {}
    for size, colour, price, units, back in rows:
        v[size, colour] = variant_with_stock(
            db,
            units,
            product=product,
            size=size,
            colour=colour,
            name=f"{size} / {colour}",
            price_cents=price,
            allow_backorder=back,
        )
    images = {
        None: _image(db, product, None, "the tee folded"),
        "Navy": _image(db, product, "Navy", "the navy tee"),
        "Sand": _image(db, product, "sand", "the sand tee"),  # ties without regard to case
    }
    return v, images


def _shown(root: Node) -> dict:
    """What the page says about the chosen variant."""
    avail = root.one(id="availability")
    form = root.one("form", class_="add-to-cart")
    return dict(
        price=avail.one("p", class_="price").text,
        stock=_stock(avail),
        image=next((i.attrs["alt"] for i in root.one(id="product-image").all("img")), None),
        variant_id=form.one("input", name="variant_id").attrs["value"],
        button=form.one("button", id="add-button").text,
    )


def _stock(avail: Node) -> str:
    return next(p for p in avail.all("p") if "stock" in p.attrs.get("class", "")).text


def _groups(root: Node) -> dict[str, list[tuple[str, bool, str]]]:
    """legend → [(radio value, checked, label text)] for each fieldset of the options form."""
    form = root.one("form", class_="variant-options")
    groups = {}
    for fieldset in form.all("fieldset"):
        legend = fieldset.one("legend").text
        groups[legend] = [
            (label.one("input").attrs["value"], "checked" in label.one("input").attrs, label.text)
            for label in fieldset.all("label")
            if label.one("input").attrs.get("type") == "radio"
        ]
    return groups


def test_one_fieldset_per_option_each_value_a_radio(client, tee):
    root = page(client, "/products/tee")
    groups = _groups(root)
    assert list(groups) == ["Size: S", "Colour: Navy"]
    assert [(v, c) for v, c, _ in groups["Size: S"]] == [("S", True), ("M", False)]
    assert [(v, c) for v, c, _ in groups["Colour: Navy"]] == [("Navy", True), ("Sand", False)]
    form = root.one("form", class_="variant-options")
    assert form.attrs["method"] == "get" and form.attrs["action"] == "/products/tee"
    assert form.one("button").text == "Show"  # sends the choice without JavaScript
    assert not list(root.all("select"))  # the old mixed "Option" dropdown is gone


def test_the_chosen_variant_has_its_price_stock_picture_and_id(client, tee):
    v, _images = tee
    assert _shown(page(client, "/products/tee")) == dict(
        price="$28.00",
        stock="In stock",
        image="the navy tee",
        variant_id=str(v["S", "Navy"].id),
        button="Add to cart",
    )
    assert _shown(page(client, "/products/tee?size=M&colour=Navy")) == dict(
        price="$30.00",
        stock="Only 2 left",
        image="the navy tee",
        variant_id=str(v["M", "Navy"].id),
        button="Add to cart",
    )
    assert _shown(page(client, "/products/tee?size=S&colour=Sand")) == dict(
        price="$28.00",
        stock="Back-order: ships later",
        image="the sand tee",
        variant_id=str(v["S", "Sand"].id),
        button="Add to cart",
    )
    sold_out = _shown(page(client, "/products/tee?size=m&colour=SAND"))  # any case
    assert sold_out["stock"] == "Sold out" and sold_out["button"] == "Sold out"
    assert sold_out["variant_id"] == str(v["M", "Sand"].id)


def test_sold_out_choices_are_marked_not_hidden(client, tee):
    groups = _groups(page(client, "/products/tee?size=M&colour=Navy"))
    assert groups["Colour: Navy"][1] == ("Sand", False, "Sand (sold out)")  # M in Sand
    groups = _groups(page(client, "/products/tee?size=S&colour=Navy"))
    assert groups["Colour: Navy"][1] == ("Sand", False, "Sand")  # S in Sand: back-order


def test_variant_links_still_work_and_name_the_variant_page(client, tee):
    v, _images = tee
    root = page(client, f"/products/tee?variant={v['M', 'Navy'].id}")
    assert _shown(root)["price"] == "$30.00"
    next_url = root.one("form", class_="add-to-cart").one("input", name="next").attrs["value"]
    assert next_url == "/products/tee?size=M&colour=Navy"


@pytest.mark.parametrize(
    "query",
    [
        "size=XXL&colour=Purple",
        "size=&colour=",
        "size=" + "M" * 5000,
        "variant=abc",
        "variant=99999999",
        "size=M&size=S&colour=%3Cscript%3E",
        "colour=Navy&variant=-1",
    ],
)
def test_bad_option_values_answer_a_page_never_an_error(client, tee, query):
    v, _images = tee
    shown = _shown(page(client, f"/products/tee?{query}"))
    assert shown["variant_id"] in {str(x.id) for x in v.values()}


def test_an_unknown_value_is_ignored_and_the_others_still_count(client, tee):
    v, _images = tee
    shown = _shown(page(client, "/products/tee?size=XXL&colour=Sand"))
    assert shown["variant_id"] == str(v["S", "Sand"].id)  # the first Sand
    assert shown["image"] == "the sand tee"


def test_htmx_gets_the_changing_parts_and_the_url_to_show(client, tee):
    v, _images = tee
    response = client.get(
        "/products/tee?size=M&colour=Navy",
        headers={"HX-Request": "true", "HX-Trigger-Name": "size"},
    )
    body = response.get_data(as_text=True)
    assert "<html" not in body and "HX-Request" in response.headers["Vary"]
    assert response.headers["HX-Push-Url"] == "/products/tee?size=M&colour=Navy"
    root = Tree(body).root
    assert root.one("p", class_="price").text == "$30.00"  # into #availability
    assert "Only 2 left" in root.text
    oob = {n.attrs["id"]: n for n in root.all(**{"hx-swap-oob": "true"})}
    assert set(oob) == {"product-image", "option-groups", "chosen-variant", "add-button"}
    assert oob["chosen-variant"].one("input", name="variant_id").attrs["value"] == str(
        v["M", "Navy"].id
    )
    assert oob["product-image"].one("img").attrs["alt"] == "the navy tee"
    legends = [f.one("legend").text for f in oob["option-groups"].all("fieldset")]
    assert legends == ["Size: M", "Colour: Navy"]


def test_a_combination_not_made_shows_the_closest_and_says_so(client, db):
    product = ProductFactory(slug="cap")
    navy_s = variant_with_stock(db, 5, product=product, size="S", colour="Navy")
    sand_m = variant_with_stock(db, 5, product=product, size="M", colour="Sand")
    # htmx: the shopper just chose Sand while S was chosen: Sand wins.
    response = client.get(
        "/products/cap?size=S&colour=Sand", headers={"HX-Request": "1", "HX-Trigger-Name": "colour"}
    )
    assert response.headers["HX-Push-Url"] == "/products/cap?size=M&colour=Sand"
    assert "S / Sand is not made; showing M / Sand." in response.get_data(as_text=True)
    # Without the name of the option changed (no JavaScript): the first that matches one.
    root = page(client, "/products/cap?size=S&colour=Sand")
    assert _shown(root)["variant_id"] == str(navy_s.id)
    groups = _groups(root)
    assert groups["Colour: Navy"][1] == ("Sand", False, "Sand (not made in this size)")
    assert groups["Size: S"][1] == ("M", False, "M (not made in this colour)")
    assert _shown(page(client, f"/products/cap?variant={sand_m.id}"))["price"] == "$25.00"


def test_variants_without_sizes_or_colours_are_one_list_of_radios(client, db):
    product = ProductFactory(slug="font")
    variant_with_stock(db, 3, product=product, name="Desktop", price_cents=3900)
    web = variant_with_stock(db, 0, product=product, name="Web", price_cents=7900)
    root = page(client, "/products/font")
    groups = _groups(root)
    assert list(groups) == ["Option: Desktop"]
    assert [label for _, _, label in groups["Option: Desktop"]] == ["Desktop", "Web (sold out)"]
    shown = _shown(page(client, f"/products/font?variant={web.id}"))
    assert (shown["price"], shown["stock"]) == ("$79.00", "Sold out")


def test_a_product_of_one_variant_has_no_selector(client, db):
    variant_with_stock(db, 3, product__slug="pen")
    root = page(client, "/products/pen")
    assert not list(root.all("fieldset"))
    assert root.one("form", class_="add-to-cart").one("input", name="variant_id")


def test_with_nothing_chosen_the_first_variant_that_can_be_bought_shows(client, db):
    product = ProductFactory(slug="mug")
    variant_with_stock(db, 0, product=product, colour="Sage")
    slate = variant_with_stock(db, 4, product=product, colour="Slate")
    assert _shown(page(client, "/products/mug"))["variant_id"] == str(slate.id)


def _offers(client, url: str) -> dict:
    root = page(client, url)
    blocks = [json.loads(s.text) for s in root.all("script", type="application/ld+json")]
    product = next(b for b in blocks if b.get("@type") == "Product")
    return {o["sku"]: o for o in product["offers"]}


def test_json_ld_has_an_offer_per_variant_with_live_availability(client, tee):
    v, _images = tee
    offers = _offers(client, "/products/tee")
    schema = "https://schema.org/"
    assert {sku: o["availability"].removeprefix(schema) for sku, o in offers.items()} == {
        v["S", "Navy"].sku: "InStock",
        v["M", "Navy"].sku: "LimitedAvailability",
        v["S", "Sand"].sku: "BackOrder",
        v["M", "Sand"].sku: "OutOfStock",
    }
    navy_m = offers[v["M", "Navy"].sku]
    assert navy_m["price"] == "30.00"
    assert navy_m["url"].endswith("/products/tee?size=M&colour=Navy")


def test_a_product_without_variants_says_it_is_not_available(client, db):
    ProductFactory(slug="soon")
    root = page(client, "/products/soon?size=M&colour=Navy&variant=1")
    assert root.one(id="availability").text == "Not available"
    assert not list(root.all("form", class_="add-to-cart"))
