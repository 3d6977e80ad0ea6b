"""BoltHarness without `inputs=`: positional values, a dict of fields, or a clear ConfigError."""

from __future__ import annotations

from typing import Any

import pytest
from streamparse import Bolt

import squall
from squall.errors import ConfigError
from squall.testing import BoltHarness


class UpperBolt(Bolt):  # type: ignore[misc]
    outputs = ["word"]

    def process(self, tup: Any) -> None:
        self.emit([tup.values.word.upper()])


class FirstBolt(Bolt):  # type: ignore[misc]
    outputs = ["first"]

    def process(self, tup: Any) -> None:
        self.emit([tup.values[0]])


def test_a_bolt_reading_a_named_field_without_inputs_gets_a_clear_config_error() -> None:
    h = BoltHarness(UpperBolt)
    with pytest.raises(ConfigError) as err:
        h.process(["hi"], component="words")
    text = str(err.value)
    assert "'word'" in text and "words/default" in text
    assert "fix: pass inputs={'words': ['word', ...]}" in text
    assert isinstance(err.value.__cause__, AttributeError)


def test_positional_values_work_without_inputs() -> None:
    h = BoltHarness(FirstBolt)
    tid = h.process(["a", "b"])
    assert h.emitted() == [["a"]] and h.acked == [tid]


def test_a_dict_declares_the_fields() -> None:
    h = BoltHarness(UpperBolt)
    h.process({"word": "hi"})
    h.process(["yo"])  # the source's fields are known from now on
    assert h.emitted() == [["HI"], ["YO"]]
    with pytest.raises(ConfigError, match=r"the keys \['other'\] differ from the fields \['word'\]"):
        h.process({"other": 1})


def test_inputs_still_name_the_fields_and_other_attribute_errors_pass_through() -> None:
    h = BoltHarness(UpperBolt, inputs={("words", "s1"): ["word"]})
    h.process(["hi"], component="words", stream="s1")
    assert h.emitted() == [["HI"]]
    with pytest.raises(AttributeError, match="'int' object has no attribute 'upper'"):
        h.process([3], component="words", stream="s1")


def test_public_names_are_exported() -> None:
    import squall.testing as testing

    for name in ("BoltHarness", "SpoutHarness", "ManualClock", "isolated_pipeline_project", "run_topology"):
        assert name in testing.__all__ and hasattr(testing, name)
    assert squall.ManualClock is testing.ManualClock
    from squall.windowing.bolt import WindowedBolt

    assert squall.WindowedBolt is WindowedBolt
    with pytest.raises(AttributeError):
        _ = squall.NoSuchThing  # type: ignore[attr-defined]
