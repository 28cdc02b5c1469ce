"""NEW's input tag from its declared shape when its readers do not say (kstep convert's OUT: a Permute reads a moved
input)."""

from kstep.compare.layout import PLAIN, image, moved_input_tag

CF, CL = image("channels_first"), image("channels_last")


def test_declared_shape_in_the_other_order_says_the_layout():
    assert moved_input_tag(CF, PLAIN, (None, 2, 5, 6), (None, 5, 6, 2)) == CL
    assert moved_input_tag(CL, PLAIN, (None, 5, 6, 2), (None, 2, 5, 6)) == CF


def test_nothing_changes_when_the_shape_is_the_same_or_the_readers_said():
    assert moved_input_tag(CF, PLAIN, (None, 3, 3, 3), (None, 3, 3, 3)) == PLAIN  # ambiguous: the same shape
    assert moved_input_tag(CF, PLAIN, (None, 2, 5, 6), (None, 2, 5, 6)) == PLAIN
    assert moved_input_tag(CF, CF, (None, 2, 5, 6), (None, 5, 6, 2)) == CF  # its readers' word stands
    assert moved_input_tag(PLAIN, PLAIN, (None, 2, 5, 6), (None, 5, 6, 2)) == PLAIN
    assert moved_input_tag(CF, PLAIN, (None, 2, 5, 6), None) == PLAIN
