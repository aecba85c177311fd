"""The admin's catalogue: products listed, created, edited and archived; categories; a product's
variants added; its photos uploaded, edited and deleted. Each view parses its form, calls one
service (``services.admin.catalogue`` / ``variants`` / ``images``) and renders, or flashes and
redirects (303). A refused entry re-renders the form with its error (422) or flashes it, and
changes nothing. A variant's own page and its stock are in ``catalogue_stock``."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from wtforms.fields.choices import SelectChoice

from app.db import get_session
from app.forms import ActionForm
from app.input_guard import allow_upload
from app.models import ProductKind
from app.money import parse_money
from app.services.admin import catalogue, images, variants
from app.services.errors import DomainError, NotFound
from app.web import render_page

from .base import actor, bp, require
from .catalogue_forms import (
    CategoryForm,
    ImageEditForm,
    ImageForm,
    ProductForm,
    VariantForm,
    new_key,
)


def first_error(form) -> str:
    return next(iter(form.errors.values()))[0]


def to_product(product_id: int, anchor: str = ""):
    return redirect(url_for("admin.product", product_id=product_id) + anchor, code=303)


def variant_input(form: VariantForm) -> variants.VariantInput:
    """The form's values; the price parsed from the owner's decimal (ValueError: form error)."""
    price = parse_money(form.price.data, current_app.config["SHOP_CURRENCY"])
    return variants.VariantInput(
        sku=form.sku.data,
        name=form.name.data or "",
        size=form.size.data or "",
        colour=form.colour.data or "",
        price_cents=price,
        allow_backorder=bool(form.allow_backorder.data),
        low_stock_threshold=form.low_stock_threshold.data,
        weight_grams=form.weight_grams.data or 0,  # empty: weightless (a download, a gift card)
    )


# ---------------------------------------------------------------- products


@bp.get("/products")
def products():
    filters = catalogue.ProductFilter(
        q=request.args.get("q", "")[:100], archived=request.args.get("archived") == "1"
    )
    page = catalogue.list_products(get_session(), filters, request.args.get("page", 1, type=int))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_page(
        "admin/catalogue/products.html", block="results", page=page, filters=filters, args=args
    )


def _product_form(form: ProductForm) -> ProductForm:
    form.category_id.choices = [
        SelectChoice(c.id, c.name) for c in catalogue.list_categories(get_session())
    ]
    return form


def _product_input(form: ProductForm) -> catalogue.ProductInput:
    return catalogue.ProductInput(
        name=form.name.data,
        description=form.description.data or "",
        category_id=form.category_id.data,
        kind=ProductKind(form.kind.data),
        featured=bool(form.featured.data),
    )


def _new_page(form: ProductForm, error: str | None = None, status: int = 200):
    return render_page("admin/catalogue/product_new.html", form=form, error=error, status=status)


@bp.get("/products/new")
def product_new():
    require("catalogue")
    return _new_page(_product_form(ProductForm(key=new_key())))


@bp.post("/products/new")
def product_create():
    require("catalogue")
    form = _product_form(ProductForm())
    if not form.validate():
        return _new_page(form, first_error(form), 422)
    try:
        product = catalogue.create_product(
            get_session(), _product_input(form), actor=actor(), key=form.key.data
        )
    except DomainError as exc:
        return _new_page(form, exc.message, 422)
    flash(f"{product.name} is created. Add its variants and photos.", "success")
    return to_product(product.id)


def product_page(product_id: int, *, form=None, variant_form=None, error=None, status=200):
    session = get_session()
    try:
        product = catalogue.get_product(session, product_id)
    except NotFound:
        abort(404)
    if form is None:
        form = ProductForm(obj=product, key=new_key())
        form.kind.data = product.kind.value
    if variant_form is None:
        variant_form = VariantForm(
            key=new_key(), allow_backorder=product.kind is ProductKind.DIGITAL
        )
    return render_page(
        "admin/catalogue/product.html",
        status=status,
        product=product,
        form=_product_form(form),
        variant_form=variant_form,
        image_form=ImageForm(key=new_key()),
        colours=images.product_colours(session, product_id),
        action_form=ActionForm(),
        error=error,
        currency=current_app.config["SHOP_CURRENCY"],
    )


@bp.get("/products/<int:product_id>")
def product(product_id: int):
    return product_page(product_id)


@bp.post("/products/<int:product_id>")
def product_update(product_id: int):
    require("catalogue")
    form = _product_form(ProductForm())
    if not form.validate():
        return product_page(product_id, form=form, error=first_error(form), status=422)
    try:
        changed = catalogue.update_product(
            get_session(), product_id, _product_input(form), actor=actor()
        )
    except NotFound:
        abort(404)
    except DomainError as exc:
        return product_page(product_id, form=form, error=exc.message, status=422)
    flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
    return to_product(product_id)


def _set_active(product_id: int, active: bool):
    require("catalogue")
    try:
        changed = catalogue.set_active(get_session(), product_id, active, actor=actor())
    except NotFound:
        abort(404)
    word = "back on the storefront" if active else "archived (off the storefront)"
    flash(f"The product is {word}." if changed else f"The product was already {word}.", "success")
    return to_product(product_id)


@bp.post("/products/<int:product_id>/archive")
def product_archive(product_id: int):
    return _set_active(product_id, False)


@bp.post("/products/<int:product_id>/unarchive")
def product_unarchive(product_id: int):
    return _set_active(product_id, True)


# ---------------------------------------------------------------- categories


def _categories_page(form: CategoryForm, error: str | None = None, status: int = 200):
    return render_page(
        "admin/catalogue/categories.html",
        status=status,
        categories=catalogue.list_categories(get_session()),
        form=form,
        rename_form=CategoryForm,
        error=error,
    )


@bp.get("/categories")
def categories():
    return _categories_page(CategoryForm())


@bp.post("/categories")
def category_create():
    require("catalogue")
    form = CategoryForm()
    if not form.validate():
        return _categories_page(form, first_error(form), 422)
    try:
        category, created = catalogue.create_category(get_session(), form.name.data, actor=actor())
    except DomainError as exc:
        return _categories_page(form, exc.message, 422)
    flash(
        f"Category {category.name} is created."
        if created
        else f"There is already a category {category.name}.",
        "success" if created else "info",
    )
    return redirect(url_for("admin.categories"), code=303)


@bp.post("/categories/<int:category_id>")
def category_rename(category_id: int):
    require("catalogue")
    form = CategoryForm()
    if not form.validate():
        flash(first_error(form), "error")
        return redirect(url_for("admin.categories"), code=303)
    try:
        changed = catalogue.rename_category(
            get_session(), category_id, form.name.data, actor=actor()
        )
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash("Renamed." if changed else "Nothing changed.", "success" if changed else "info")
    return redirect(url_for("admin.categories"), code=303)


# ---------------------------------------------------------------- variants


@bp.post("/products/<int:product_id>/variants")
def variant_create(product_id: int):
    require("catalogue")
    form = VariantForm()
    try:
        if not form.validate():
            raise DomainError(first_error(form))
        data = variant_input(form)
        variant = variants.create_variant(
            get_session(),
            product_id,
            data,
            currency=current_app.config["SHOP_CURRENCY"],
            actor=actor(),
            key=form.key.data,
        )
    except NotFound:
        abort(404)
    except (DomainError, ValueError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        return product_page(product_id, variant_form=form, error=message, status=422)
    flash(f"Variant {variant.sku} is added. Give it stock on its page.", "success")
    return to_product(product_id, "#variants")


# ---------------------------------------------------------------- images


@bp.post("/products/<int:product_id>/images")
@allow_upload
def image_upload(product_id: int):
    require("catalogue")
    form = ImageForm()
    upload = request.files.get("image")
    try:
        if not form.validate():
            raise DomainError(first_error(form))
        images.add_image(
            get_session(),
            product_id,
            upload.read() if upload else b"",
            form.alt.data or "",
            actor=actor(),
            key=form.key.data,
            colour=request.form.get("colour"),
        )
    except NotFound:
        abort(404)
    except DomainError as exc:
        return product_page(product_id, error=exc.message, status=422)
    flash("The photo is uploaded.", "success")
    return to_product(product_id, "#images")


@bp.post("/products/<int:product_id>/images/<int:image_id>")
def image_update(product_id: int, image_id: int):
    require("catalogue")
    form = ImageEditForm()
    try:
        if not form.validate():
            raise DomainError(first_error(form))
        changed = images.update_image(
            get_session(),
            product_id,
            image_id,
            form.alt.data or "",
            form.position.data,
            actor=actor(),
            colour=request.form.get("colour"),  # absent: a product without colours
        )
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
    return to_product(product_id, "#images")


@bp.post("/products/<int:product_id>/images/<int:image_id>/delete")
def image_delete(product_id: int, image_id: int):
    require("catalogue")
    try:
        deleted = images.delete_image(get_session(), product_id, image_id, actor=actor())
    except NotFound:
        abort(404)
    flash("The photo is deleted." if deleted else "That photo was already deleted.", "success")
    return to_product(product_id, "#images")
