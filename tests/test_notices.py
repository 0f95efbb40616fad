import warnings

from ovmlr.notices import silence_library_notices


def test_only_the_listed_library_notices_are_silenced():
    shown = "`torch.jit.script` is deprecated"  # the listed message under another category
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_library_notices()
        for message, category in (
            ("`torch.jit.script` is deprecated. Please switch to `torch.compile`", FutureWarning),
            ("register_new_resolver() is deprecated and will be removed", UserWarning),
            (shown, UserWarning),
            ("something else is deprecated", FutureWarning),
        ):
            warnings.warn(message, category, stacklevel=1)
    assert [str(w.message) for w in caught] == [shown, "something else is deprecated"]
