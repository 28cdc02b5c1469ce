"""x (kstep fix in the debugger) on real migration pairs, wired by kstep.tui.launch as `kstep OLD NEW REF` is: FIXED
written beside NEW and the comparison reopened as OLD vs FIXED (agreeing), the file equal to what the `kstep fix`
CLI writes; esc writes nothing; an unfixable first divergence is a notification; a refused path keeps the dialog
with the error; NO_COLOR leaves the dialog colourless. Every file is a copy under tmp_path."""

from __future__ import annotations

import json
import shutil
from contextlib import asynccontextmanager
from pathlib import Path

from textual.widgets import Input

from kstep.cli import build_app_parser, main
from kstep.tui import launch
from kstep.tui.fixing import FixDone, default_targets, fix_offer, fixed_name, with_fixed
from kstep.tui.screens.fix import FixDialog
from tests.conftest import FIXTURES
from tests.repair.record import digest
from tests.tui import sample_analysis as sample
from tests.tui.helpers import build, main_screen, pilot_test, screen_without_colour, settle
from tests.tui.test_launch import _hues

PAIRS = FIXTURES / "pairs"


def copy_pair(tmp_path: Path, name: str) -> Path:
    """The pair's directory copied under tmp_path (so FIXED's default path lands there)."""
    return Path(shutil.copytree(PAIRS / name, tmp_path / name))


def argv_for(pair: Path, new: str = "new.h5", weights: str | None = None) -> list[str]:
    argv = [str(pair / "old.h5"), str(pair / new), str(pair / "ref.npy"), "--ref-new", str(pair / "ref_new.npy")]
    return argv + (["--weights-new", str(pair / weights)] if weights else [])


async def until(pilot, test, tries: int = 3000) -> None:
    for _ in range(tries):
        if test():
            return
        await pilot.pause(0.02)
    raise AssertionError("never happened")


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


@asynccontextmanager
async def opened(argv: list[str]):
    """The app as `kstep OLD NEW REF` builds it, at 80x24, its analysis complete: yields (app, session, pilot)."""
    app, session = launch.build(build_app_parser().parse_args(argv), argv)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda s: s.analysis.complete)
            yield app, session, pilot
    finally:
        session.close()


async def press_x(pilot) -> FixDialog:
    await pilot.press("x")
    await until(pilot, lambda: isinstance(pilot.app.screen, FixDialog))
    return pilot.app.screen


async def written(pilot) -> None:
    """Wait until the dialog has closed and the comparison of OLD with FIXED is complete."""
    await until(pilot, lambda: not isinstance(pilot.app.screen, FixDialog))
    await settle(pilot, lambda s: s.analysis.complete and not s.running)


async def fix_in_app(argv: list[str]):
    """x, enter on the defaults; -> (app, session, the main screen's analysis once OLD vs FIXED is compared)."""
    async with opened(argv) as (app, session, pilot):
        assert not main_screen(pilot).analysis.agree
        await press_x(pilot)
        await pilot.press("enter")
        await written(pilot)
        return app, session, main_screen(pilot).analysis


@pilot_test
async def test_x_writes_fixed_and_reopens_old_vs_fixed(tmp_path):
    """flatten_dense_order at fc1: enter writes new.fixed.h5 beside NEW; the rows are compared again, OLD vs FIXED,
    and agree; the file equals (config and every array) what `kstep fix` writes for the same pair."""
    pair = copy_pair(tmp_path, "channels_first_to_last_flatten")
    app, session, after = await fix_in_app(argv_for(pair))
    fixed = pair / "new.fixed.h5"
    assert fixed.is_file() and after.agree and after.new.path == str(fixed)
    assert session.args.new == str(fixed) and str(fixed) in session.command
    cli = tmp_path / "cli.h5"
    assert main([*["fix"], *argv_for(pair), "-o", str(cli)]) == 0
    assert digest(fixed) == digest(cli)
    assert app.return_code in (None, 0)


@pilot_test
async def test_x_on_an_architecture_json_writes_weights_and_json(tmp_path):
    """A JSON NEW (Keras 1 -> tf.keras, kernels not flipped): FIXED is the weights file (new.fixed.weights.h5), the
    JSON new.fixed.json; OLD vs both agrees; both equal the CLI's -o / --arch-out files."""
    pair = copy_pair(tmp_path, "k1_th_cnn_json_noflip")
    argv = argv_for(pair, "new.json", "new.weights.h5")
    _, session, after = await fix_in_app(argv)
    weights, arch = pair / "new.fixed.weights.h5", pair / "new.fixed.json"
    assert after.agree and (session.args.new, session.args.weights_new) == (str(arch), str(weights))
    cli_w, cli_j = tmp_path / "cli.weights.h5", tmp_path / "cli.json"
    assert main(["fix", *argv, "-o", str(cli_w), "--arch-out", str(cli_j)]) == 0
    assert digest(weights) == digest(cli_w)
    assert json.loads(arch.read_text()) == json.loads(cli_j.read_text())


@pilot_test
async def test_esc_cancels_and_writes_nothing(tmp_path):
    """x then esc: back on the main screen, OLD vs NEW as before, no file added."""
    pair = copy_pair(tmp_path, "channels_first_to_last_flatten")
    before = sorted(p.name for p in pair.iterdir())
    async with opened(argv_for(pair)) as (_, session, pilot):
        await press_x(pilot)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not isinstance(pilot.app.screen, FixDialog)
        assert main_screen(pilot).analysis.new.path == str(pair / "new.h5")
    assert sorted(p.name for p in pair.iterdir()) == before and session.args.new == str(pair / "new.h5")


@pilot_test
async def test_x_on_an_unfixable_divergence_notifies(tmp_path):
    """weights_changed at fc2 (a retraining, never fixed): no dialog, a notification with the reason."""
    pair = copy_pair(tmp_path, "weights_changed_k3_to_tfk")
    async with opened(argv_for(pair)) as (app, _, pilot):
        await pilot.press("x")
        await pilot.pause(0.2)
        assert not isinstance(pilot.app.screen, FixDialog)
        said = notes(app)
        assert any("weights_changed at fc2: kstep fix cannot write this" in n for n in said), said


@pilot_test
async def test_a_refused_path_keeps_the_dialog_with_the_error(tmp_path):
    """FIXED named NEW itself: refused (exit 2 in the CLI), shown in the dialog and as a notification, nothing
    written, the comparison untouched; the user edits the path and enter then writes it."""
    pair = copy_pair(tmp_path, "channels_first_to_last_flatten")
    async with opened(argv_for(pair)) as (app, session, pilot):
        dialog = await press_x(pilot)
        dialog.query_one("#fix-path", Input).value = str(pair / "new.h5")
        await pilot.press("enter")
        await until(pilot, lambda: dialog.shown and not dialog.running and "running" not in dialog.shown[0])
        assert pilot.app.screen is dialog and "is one of the input files" in dialog.shown[0]
        assert any("is one of the input files" in n for n in notes(app))
        assert session.args.new == str(pair / "new.h5") and app.return_code is None
        dialog.query_one("#fix-path", Input).value = str(tmp_path / "mine.h5")
        await pilot.press("enter")
        await written(pilot)
        assert main_screen(pilot).analysis.agree and (tmp_path / "mine.h5").is_file()


@pilot_test
async def test_a_remaining_divergence_is_shown_and_the_dialog_stays():
    """Exit 1 from kstep fix (nothing written): the round lines and the reason stay in the dialog, the comparison
    is not restarted."""
    fake = sample.FakeCompare(sample.fixable())
    fake.fix_done = FixDone(1, None, ("a divergence remains after 1 fix(es): ...", "nothing written"))
    app = build(sample.fixable(), fake=fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        generation = main_screen(pilot).generation
        await pilot.press("x", "enter")
        dialog = pilot.app.screen
        await until(pilot, lambda: not dialog.running and any("nothing written" in x for x in dialog.shown))
        assert isinstance(pilot.app.screen, FixDialog) and dialog.shown[-1] == "(exit 1)"
        assert dialog.shown[0].startswith("round 1: theano_kernel_flip at conv1")
        assert fake.fixes == [("models/new.fixed.h5", None)] and main_screen(pilot).generation == generation
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, FixDialog)


@pilot_test
async def test_the_fix_dialog_has_no_colour_under_no_color(monkeypatch):
    """NO_COLOR=1: the dialog (and the screen behind it) has no hue; its text is all there."""
    svg = await screen_without_colour(monkeypatch, sample.fixable(), "x")
    assert not _hues(svg) and "flip the spatial axes of conv1's kernel" in svg and "new.fixed.h5" in svg


def test_fix_offer_and_names():
    """The offer names the cause and edits; the reasons when there is none; FIXED's default names."""
    offer = fix_offer(sample.fixable())
    assert not isinstance(offer, str) and offer.layer == "conv1" and offer.cause == "theano_kernel_flip"
    assert offer.edits == ("flip the spatial axes of conv1's kernel",)
    assert fix_offer(sample.sample()) == ("no verified fix here: theano_kernel_flip at conv1 is not an edit of "
                                          "NEW's file")
    assert fix_offer(sample.agree()) == "no divergence: nothing to fix"
    assert fix_offer(None) == "nothing to fix yet"
    assert fixed_name("m/new.h5") == "m/new.fixed.h5" and fixed_name("w.Weights.h5") == "w.fixed.Weights.h5"
    assert fixed_name("a/b.keras") == "a/b.fixed.keras" and fixed_name("noext") == "noext.fixed"
    assert default_targets("d/m.json", "d/w.h5") == ("d/w.fixed.h5", "d/m.fixed.json")
    cmd = ["kstep", "report", "o.h5", "m.json", "r.npy", "--weights-new=w.h5"]
    assert with_fixed(cmd, "m.json", "w.h5", "f.h5", "f.json") == cmd[:3] + ["f.json", "r.npy",
                                                                            "--weights-new=f.h5"]
    assert with_fixed(["kstep", "report", "o.h5", "n.h5", "r.npy"], "n.h5", None, "x.h5", None)[3] == "x.h5"
