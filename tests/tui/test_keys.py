"""Pilot tests: every key of the main screen and its dialogs, driven on the fixed sample analysis."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from kstep.analysis import PENDING
from kstep.errors import BadInput
from kstep.tui.screens.export import ExportDialog
from kstep.tui.screens.help import HelpScreen
from kstep.tui.screens.tolerance import ToleranceDialog
from kstep.tui.widgets.detail_pane import DetailPane
from kstep.tui.widgets.layer_table import LayerTable
from tests.tui import sample_analysis as sample
from tests.tui.helpers import build, main_screen, pilot_test, settle


def cursor(pilot) -> int:
    return main_screen(pilot).query_one(LayerTable).cursor_row


def verdict(pilot) -> str:
    return str(main_screen(pilot).query_one("#verdict-text").render())


@pilot_test
async def test_first_divergence_selected_and_announced():
    """On load the first divergent row (conv1) is selected and the verdict line names it and its cause."""
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert cursor(pilot) == 1
        assert "FIRST DIVERGENCE conv1 (theano_kernel_flip)" in verdict(pilot)


@pilot_test
async def test_agreeing_models_say_so():
    """An analysis without divergence says the models agree within tolerance."""
    async with build(sample.agree()).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "models agree within tolerance" in verdict(pilot)


@pytest.mark.parametrize("down,up", [("j", "k"), ("down", "up")])
@pilot_test
async def test_move_keys(down, up):
    """j/k and the arrows move the selection, and the detail pane follows it."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(down, down)
        assert cursor(pilot) == 3
        assert main_screen(pilot).query_one(DetailPane).row.index == 3
        await pilot.press(up)
        assert cursor(pilot) == 2
        await pilot.press("G")
        assert cursor(pilot) == 10
        await pilot.press("g")
        assert cursor(pilot) == 0


@pilot_test
async def test_enter_opens_detail_and_escape_closes_it():
    """enter opens the detail pane (the table shrinks), enter or esc closes it."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main_screen(pilot)
        await pilot.press("enter")
        assert screen.has_class("-detail-open")
        await pilot.press("escape")
        assert not screen.has_class("-detail-open")
        await pilot.press("enter", "enter")
        assert not screen.has_class("-detail-open")


@pilot_test
async def test_next_previous_and_first_divergence():
    """n/N walk the rows that break (diverge, mismatch, unsupported); f jumps back to the first divergence."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("g", "n")
        assert cursor(pilot) == 1
        await pilot.press("n")
        assert cursor(pilot) == 5
        await pilot.press("n")
        assert cursor(pilot) == 9
        await pilot.press("n")  # none further: stays
        assert cursor(pilot) == 9
        await pilot.press("N")
        assert cursor(pilot) == 5
        await pilot.press("f")
        assert cursor(pilot) == 1


@pilot_test
async def test_tab_cycles_detail_tabs():
    """tab cycles Summary → Config → Weights → Activations → Diagnosis → Summary; shift+tab goes back."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = main_screen(pilot).query_one(DetailPane)
        seen = [pane.active]
        for _ in range(5):
            await pilot.press("tab")
            seen.append(pane.active)
        assert seen == ["summary", "config", "weights", "activations", "diagnosis", "summary"]
        await pilot.press("shift+tab")
        assert pane.active == "diagnosis"


@pilot_test
async def test_i_toggles_isolated_errors():
    """i switches the error columns between propagated and isolated statistics, and back."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = main_screen(pilot).query_one(LayerTable)
        assert table.get_row("2")[-2].plain.strip() == "8.1e-01"
        await pilot.press("i")
        assert main_screen(pilot).isolated
        assert table.get_row("2")[-2].plain.strip() == "3.0e-07"
        assert "[isolated]" in str(main_screen(pilot).query_one("#mode-flags").render())
        await pilot.press("i")
        assert table.get_row("2")[-2].plain.strip() == "8.1e-01"


@pilot_test
async def test_t_sets_tolerance_through_the_provided_callable():
    """t opens the dialog; a bad number is refused; valid atol/rtol go to retolerance() and its result is shown."""
    fake = sample.FakeCompare()
    async with build(fake=fake).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        dialog = pilot.app.screen
        assert isinstance(dialog, ToleranceDialog)
        dialog.query_one("#atol", Input).value = "-1"
        await pilot.press("enter", "enter")
        assert pilot.app.screen is dialog and fake.retolerance_calls == []
        dialog.query_one("#atol", Input).value = "0.5"
        dialog.query_one("#rtol", Input).value = "0.01"
        dialog.query_one("#rtol", Input).focus()
        await pilot.press("enter")
        await settle(pilot, lambda s: s.analysis.tolerance.atol == 0.5 and not s.running)
        assert fake.retolerance_calls == [(0.5, 0.01)]
        screen = main_screen(pilot)
        assert screen.analysis.rows[1].status == "agree"
        assert cursor(pilot) == 5  # the new first divergence is selected
        await pilot.press("t", "escape")
        assert fake.retolerance_calls == [(0.5, 0.01)]


@pilot_test
async def test_slash_searches_layer_names():
    """/ finds names as you type (either side, case-insensitive); enter goes to the next match; esc closes."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main_screen(pilot)
        await pilot.press("slash")
        assert screen.has_class("-searching")
        await pilot.press("F", "c")
        assert cursor(pilot) == 8  # dense_1 → fc1
        await pilot.press("enter")
        assert cursor(pilot) == 10  # fc2
        await pilot.press("escape")
        assert not screen.has_class("-searching")
        await pilot.press("slash", *"[bold", "enter")
        assert cursor(pilot) == 3  # the literal name "[bold red]X[/]"


@pilot_test
async def test_e_exports_through_the_provided_callable(tmp_path):
    """e opens the export dialog; the format follows the typed suffix; enter calls export(analysis, fmt, path)."""
    fake = sample.FakeCompare()
    out = tmp_path / "first.json"
    async with build(fake=fake).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        dialog = pilot.app.screen
        assert isinstance(dialog, ExportDialog)
        dialog.query_one("#path", Input).value = str(out)
        await pilot.pause()
        assert dialog.selected() == "json"
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.exports == [("json", str(out))]
        assert out.read_text().startswith("json report, first divergence row 1")
        await pilot.press("e", "escape")
        assert fake.exports == [("json", str(out))]


@pilot_test
async def test_export_failure_is_reported_not_raised(tmp_path):
    """An export into a missing directory becomes a notification; the app keeps running."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        pilot.app.screen.query_one("#path", Input).value = str(tmp_path / "no" / "such" / "r.md")
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert any("export failed" in n.title for n in pilot.app._notifications)
        assert pilot.app.is_running


@pilot_test
async def test_step_continue_restart():
    """Paused at the first layer: s computes one more row, c runs to the next divergence, r starts over."""
    async with build(source=sample.stepping_source(), paused=True).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = main_screen(pilot)

        def computed():
            return sum(r.status != PENDING for r in screen.analysis.rows)

        assert computed() == 1 and screen.running and screen.paused
        await pilot.press("s")
        await settle(pilot, lambda s: computed() == 2 and s.paused)
        assert cursor(pilot) == 1  # conv1 diverges: selected when reached
        await pilot.press("c")
        await settle(pilot, lambda s: computed() == 6 and s.paused)
        assert screen.analysis.rows[5].status == "mismatch"
        await pilot.press("r")
        await settle(pilot, lambda s: computed() == 1 and s.paused)
        for _ in range(4):
            await pilot.press("c")
            await pilot.pause(0.05)
        await settle(pilot, lambda s: not s.running)
        assert screen.analysis.first_divergence is not None and cursor(pilot) == 1
        await pilot.press("s")  # complete: only a notice
        assert not screen.running


@pilot_test
async def test_help_screen_opens_and_closes():
    """? shows every key and the glyph legend; ? or esc closes it."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert not isinstance(pilot.app.screen, HelpScreen)
        await pilot.press("question_mark", "escape")
        assert not isinstance(pilot.app.screen, HelpScreen)


@pilot_test
async def test_activation_pickers():
    """[ ] change the channel and ( ) the row of a feature map on the Activations tab (the first press shows the
    tab)."""
    async with build().run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = main_screen(pilot).query_one(DetailPane)
        await pilot.press("right_square_bracket")
        assert pane.active == "activations"
        view = pane.activations()
        assert view.channel == 3  # the worst channel is shown first
        await pilot.press("right_square_bracket")
        assert view.channel == 0
        await pilot.press("left_square_bracket")
        assert view.channel == 3
        before = view.position
        assert view.n_positions == 8  # the rows of one sample's 8x8 map
        await pilot.press("right_parenthesis")
        assert view.position == (before + 1) % view.n_positions
        await pilot.press("left_parenthesis")
        assert view.position == before


@pilot_test
async def test_activations_without_values():
    """Without an accessor (or when it returns None) the tab says the values were not kept."""
    async with build(activations=None).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "tab", "tab")
        text = str(main_screen(pilot).query_one(DetailPane).activations().render())
        assert "values not kept" in text


@pytest.mark.parametrize("key,code", [("q", 0), ("ctrl+c", 130)])
@pilot_test
async def test_quit_keys_exit_codes(key, code):
    """q exits with status 0, ctrl+c with 130."""
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await pilot.pause()
    assert app.return_code == code


@pilot_test
async def test_names_render_literally():
    """A name holding markup and one holding an OSC 52 escape are shown as plain characters, never interpreted."""
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = main_screen(pilot).query_one(LayerTable)
        assert table.get_row("3")[2].plain.startswith("[bold red]X[/]")
        assert "evil\\x1b]52;c;aGk=\\x07" in table.get_row("5")[2].plain
        svg = app.export_screenshot()
        assert "[bold&#160;red]X[/]" in svg or "[bold red]X[/]" in svg
        assert "\x1b" not in svg and "\x07" not in svg
        await pilot.press("j", "j")  # select "[bold red]X[/]": the detail title and summary stay literal
        assert "[bold red]X[/]" in str(main_screen(pilot).query_one("#view-summary").render())
        await pilot.press("j", "j")
        summary = str(main_screen(pilot).query_one("#view-summary").render())
        assert "evil\\x1b]52;c;aGk=\\x07" in summary and "\x1b" not in summary


@pilot_test
async def test_no_color_keeps_glyphs(monkeypatch):
    """With NO_COLOR set the app runs colourless and the status glyphs still carry every state."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = build()
    assert app.no_color
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        glyphs = {main_screen(pilot).query_one(LayerTable).get_row(str(i))[1].plain for i in range(11)}
        assert glyphs == {"=", "✗", "~", "!", "?", "⊘", "…"}


@pilot_test
async def test_source_error_is_shown():
    """A KstepError from the compare side ends the run with its one-line message in the verdict line."""
    def source():
        yield sample.partial(1), ("old", 1, 10)
        raise BadInput("weights group missing", path="new.h5")

    async with build(source=source).run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda s: s.error is not None)
        assert "new.h5: weights group missing" in verdict(pilot)
