"""Which selectors a product page offers: the options that tell its variants apart, else one
list of the variants, so that every variant can always be chosen."""

from types import SimpleNamespace

from app.services.catalog import options


def _variant(id_, size=None, colour=None, name=""):
    return SimpleNamespace(id=id_, size=size, colour=colour, name=name, label=name or f"V{id_}")


def test_sizes_and_colours_that_tell_the_variants_apart_are_the_options():
    variants = [_variant(1, "S", "Navy"), _variant(2, "M", "Navy"), _variant(3, "S", "Sand")]
    assert options.option_names(variants) == ("size", "colour")
    assert options.option_names([_variant(1, "8 oz"), _variant(2, "16 oz")]) == ("size",)


def test_variants_the_options_cannot_tell_apart_are_one_list():
    same = [_variant(1, "M", "Navy"), _variant(2, "m", "navy")]  # one combination twice
    partial = [_variant(1, "M", "Navy"), _variant(2, "L")]  # one variant has no colour
    plain = [_variant(1, name="Desktop"), _variant(2, name="Web")]
    for variants in (same, partial, plain):
        assert options.option_names(variants) == ()
        assert options.variant_query(variants[1], ()) == {"variant": "2"}
