"""Artifact path canonicalization: every spelling of a path maps to one canonical path, or
is refused with a 400 (InvalidPath) naming the field."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mltrail_server.errors import InvalidPath
from mltrail_server.services.artifact_paths import UPLOAD_MARKER, Owner, canonical_path, locate

# A segment a user may name: anything but separators, NUL, "." and "..", and our marker.
segment = st.text(st.characters(exclude_characters="/\\\x00"), min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and UPLOAD_MARKER not in s
)
separator = st.sampled_from(["/", "//", "\\", "/./", "\\.\\", "/.//"])


@st.composite
def spelling(draw: st.DrawFn) -> tuple[list[str], str]:
    """Segments, and one way of writing them: mixed separators, `.` and `x/..` detours."""
    parts = draw(st.lists(segment, min_size=1, max_size=6))
    text = draw(st.sampled_from(["", "./", "/", ".//", "\\"]))
    for index, part in enumerate(parts):
        if index:
            text += draw(separator)
        if draw(st.booleans()):
            text += draw(segment) + draw(separator) + ".." + draw(separator)
        text += part
    text += draw(st.sampled_from(["", "/", "/.", "//"]))
    return parts, text


class TestCanonicalPath:
    @given(spelling())
    def test_every_spelling_maps_to_the_one_canonical_path(
        self, case: tuple[list[str], str]
    ) -> None:
        parts, text = case
        assert canonical_path(text) == "/".join(parts)

    @given(st.text(max_size=60))
    def test_the_canonical_form_is_clean_and_stable(self, text: str) -> None:
        try:
            canonical = canonical_path(text)
        except InvalidPath as error:
            assert error.message.startswith("path: ")
            return
        segments = canonical.split("/") if canonical else []
        assert all(s not in ("", ".", "..") for s in segments)
        assert "\\" not in canonical and "\x00" not in canonical
        assert canonical_path(canonical) == canonical

    @given(st.lists(segment, max_size=4), st.integers(min_value=1, max_value=3))
    def test_climbing_above_the_root_is_refused(self, parts: list[str], extra: int) -> None:
        text = "/".join(parts + [".."] * (len(parts) + extra) + ["x"])
        with pytest.raises(InvalidPath, match="climbs above its root"):
            canonical_path(text)

    @pytest.mark.parametrize("text", ["a\x00b", "a/\x00/b", "\x00"])
    def test_a_nul_is_refused(self, text: str) -> None:
        with pytest.raises(InvalidPath, match="path: must not contain the NUL"):
            canonical_path(text)

    def test_our_upload_marker_is_refused(self) -> None:
        with pytest.raises(InvalidPath, match=r"\.upload-"):
            canonical_path("model.pkl.upload-1234")

    def test_the_field_is_named(self) -> None:
        with pytest.raises(InvalidPath, match="^artifact_path: "):
            canonical_path("../x", field="artifact_path")


class TestLocate:
    experiment = uuid.uuid4()
    run = uuid.uuid4()

    @pytest.mark.parametrize("spell", [lambda u: u.hex, str, lambda u: str(u).upper()])
    def test_ids_in_any_spelling_name_one_folder(self, spell: object) -> None:
        path = f"{spell(self.experiment)}/{spell(self.run)}/artifacts/m/model.pkl"  # type: ignore[operator]
        location = locate(canonical_path(path))
        assert location is not None
        assert location.owner == Owner.RUN and location.run_id == self.run
        assert location.store_path == f"{self.experiment.hex}/{self.run.hex}/artifacts/m/model.pkl"

    def test_the_default_experiment_and_a_logged_model(self) -> None:
        location = locate("0/models/m-abc/artifacts/MLmodel")
        assert location is not None
        assert (location.owner, location.owner_id, location.relative) == (
            Owner.MODEL,
            "m-abc",
            "MLmodel",
        )
        assert location.store_path == "0/models/m-abc/artifacts/MLmodel"

    @pytest.mark.parametrize(
        "path",
        [
            "",
            "model.pkl",
            "0",
            "0/models",
            "e226581a602247c2bf3746307d185ccd/not-a-run/artifacts/x",
            "211fd68f8d08420e96cdc8bf590c117c/888f681c16b348cf85e289dca682aac5/other/x",
            "not-an-experiment/8dc88f2b997c46899a390bc14274813e/artifacts/x",
        ],
    )
    def test_paths_inside_no_run_or_model_belong_to_nobody(self, path: str) -> None:
        assert locate(path) is None
