"""Images as the reference input (kstep.io.images through kstep.io.samples.open_samples): read as Pillow and Keras's
load_img read them (RGB, or grey for a 1-channel input), float32, in each model's input layout, decoded per range;
every bad image (alpha, 16-bit, corrupt, truncated, a decompression bomb, the wrong size, mixed sizes, an empty
directory, no Pillow) refused in one line with exit 2.

The models are bare ModelSpecs (an InputLayer, and a Conv2D reading it when the layout matters), and the real
channels_first / channels_last pair tests/fixtures/pairs/channels_first_to_last_correct for both sides at once.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from kstep.cli import main
from kstep.compare.inputs import InputSet
from kstep.compare.layout import input_tag
from kstep.compare.trace import consumers
from kstep.errors import BadInput, KstepError, UsageError
from kstep.io.images import channels_first
from kstep.io.inputs import read_reference
from kstep.io.load import open_model
from kstep.io.samples import open_samples
from kstep.ir import LayerCall, LayerSpec, ModelSpec, TensorRef

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAIR = FIXTURES / "pairs" / "channels_first_to_last_correct"  # 8x8 RGB, OLD NCHW, NEW NHWC


def _model(shape: tuple, fmt: str | None = None, inputs: int = 1) -> ModelSpec:
    """Input 'x' (and 'y' when inputs=2) of `shape` (batch axis included); with `fmt`, a Conv2D of that data_format
    reads it (what decides the input's layout)."""
    names = ["x", "y"][:inputs]
    layers = [LayerSpec(n, "InputLayer", "InputLayer", {"batch_input_shape": shape}) for n in names]
    if fmt:
        layers.append(LayerSpec("c", "Conv2D", "Conv2D", {"data_format": fmt}, calls=[LayerCall([TensorRef("x")])]))
    return ModelSpec("m", "Functional", layers, [TensorRef(n) for n in names], [TensorRef(layers[-1].name)])


def _pixels(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    shape = (h, w, c) if c > 1 else (h, w)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _save(path: Path, arr: np.ndarray, mode: str | None = None, **kw) -> str:
    (Image.fromarray(arr).convert(mode) if mode else Image.fromarray(arr)).save(path, **kw)
    return str(path)


def _png(path: Path, w: int, h: int, depth: int, ctype: int, raw: bytes) -> str:
    """A PNG written chunk by chunk: any header, whatever the data (forged sizes, 16-bit)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return str(path)


@pytest.mark.parametrize(("fmt", "layout"), [("channels_last", (0, 1, 2)), ("channels_first", (2, 0, 1))])
def test_rgb_image_in_the_model_layout(tmp_path, fmt, layout):
    """A 5x7 RGB PNG (height != width, so an axis swap shows) is one sample of float32 0..255 values, equal to the
    pixels, laid out (H, W, C) or (C, H, W) by the layer reading the input; the note says so."""
    px = _pixels(5, 7)
    path = _save(tmp_path / "a.png", px)
    shape = (None, 5, 7, 3) if fmt == "channels_last" else (None, 3, 5, 7)
    notes: list[str] = []
    with open_samples(path, _model(shape, fmt), notes) as ss:
        assert (ss.count, ss.total, ss.sample_shapes["x"], ss.dtypes["x"]) == (1, 1, shape[1:], np.float32)
        x = ss.read(0, 1)["x"]
    assert x.dtype == np.float32 and x.shape == (1, *shape[1:])
    np.testing.assert_array_equal(x[0], px.transpose(layout).astype(np.float32))
    assert any("1 image read as RGB" in n and ("NCHW" if fmt == "channels_first" else "NHWC") in n for n in notes)


def test_each_side_in_its_own_layout_on_a_real_pair(tmp_path):
    """OLD channels_first and NEW channels_last (a real pair): the image reaches OLD as NCHW and NEW as NHWC, both
    equal to its pixels, before each side's --pre-*."""
    px = _pixels(8, 8, seed=3)
    path = _save(tmp_path / "a.png", px)
    with open_model(str(PAIR / "old.h5"), attach=False) as old, open_model(str(PAIR / "new.h5"),
                                                                           attach=False) as new:
        inputs = InputSet(old, new, path, None)
        try:
            chunk = inputs.chunk(0, 1)
        finally:
            inputs.close()
    (o,), (n,) = chunk.old.values(), chunk.new.values()
    np.testing.assert_array_equal(o[0], px.transpose(2, 0, 1))
    np.testing.assert_array_equal(n[0], px)
    assert (str(chunk.tags_old["input_layer"]), str(chunk.tags_new["input_1"])) == ("NCHW", "NHWC")


def test_grey_for_a_one_channel_model_and_rgb_from_grey(tmp_path):
    """A 1-channel input gets Pillow's convert('L') of an RGB image (as load_img(color_mode='grayscale')), with a
    channel axis or without one for a (batch, H, W) input; an RGB input gets a grey image on 3 channels."""
    px = _pixels(4, 6)
    rgb = _save(tmp_path / "rgb.png", px)
    grey = np.asarray(Image.fromarray(px).convert("L"), dtype=np.float32)
    notes: list[str] = []
    np.testing.assert_array_equal(read_reference(rgb, _model((None, 4, 6, 1)), notes)["x"][0, ..., 0], grey)
    assert any("converted to grey" in n for n in notes)
    np.testing.assert_array_equal(read_reference(rgb, _model((None, 1, 4, 6), "channels_first"))["x"][0, 0], grey)
    np.testing.assert_array_equal(read_reference(rgb, _model((None, 4, 6)))["x"][0], grey)
    g = _save(tmp_path / "g.png", px[..., 0])
    notes = []
    x = read_reference(g, _model((None, 4, 6, 3)), notes)["x"][0]
    assert all(np.array_equal(x[..., c], px[..., 0]) for c in range(3)) and any("3 channels" in n for n in notes)


def test_directory_in_name_order_and_several_paths(tmp_path):
    """A directory's images in name order (other files and dot-files skipped, noted) are the samples; the same
    images as several paths give the same batch in the order given; any range reads the same pixels."""
    d = tmp_path / "imgs"
    d.mkdir()
    pics = {name: _pixels(3, 4, seed=i) for i, name in enumerate(["b.png", "a.jpg", "c.bmp", "A.gif"])}
    for name, px in pics.items():
        _save(d / name, px, **({"quality": 95} if name.endswith("jpg") else {}))
    (d / "notes.txt").write_text("not an image")
    (d / ".hidden.png").write_bytes(b"junk")
    order = sorted(pics)  # 'A.gif', 'a.jpg', 'b.png', 'c.bmp'
    want = np.stack([np.asarray(Image.open(d / n).convert("RGB"), dtype=np.float32) for n in order])
    model = _model((None, 3, 4, 3))
    notes: list[str] = []
    with open_samples(str(d), model, notes) as ss:
        assert ss.count == 4
        np.testing.assert_array_equal(ss.read(0, 4)["x"], want)
        np.testing.assert_array_equal(np.concatenate([ss.read(i, i + 1)["x"] for i in range(4)]), want)
    assert any("4 images in name order (2 other entries skipped)" in n for n in notes)
    paths = [str(d / n) for n in reversed(order)]
    with open_samples(paths[0], model, None, None, paths[1:]) as ss:
        np.testing.assert_array_equal(ss.read(1, 3)["x"], want[::-1][1:3])
    with open_samples(str(d), model, None, (1, 3)) as ss:
        assert (ss.count, ss.start, ss.total) == (2, 1, 4)
        np.testing.assert_array_equal(ss.read(0, 2)["x"], want[1:3])


def test_decoded_per_range_not_all_at_once(tmp_path, monkeypatch):
    """Opening a directory decodes no pixel; reading samples [2, 4) decodes exactly those two images."""
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(6):
        _save(d / f"{i}.png", _pixels(3, 3, seed=i))
    loads: list[str] = []
    real = Image.Image.load

    def counting(self):
        loads.append(getattr(self, "filename", "?"))
        return real(self)

    monkeypatch.setattr(Image.Image, "load", counting)
    ss = open_samples(str(d), _model((None, 3, 3, 3)))
    assert loads == []
    ss.read(2, 4)
    assert sorted(Path(p).name for p in set(loads)) == ["2.png", "3.png"]


def test_resize_nearest_and_noted(tmp_path):
    """--resize HxW: Pillow's nearest-neighbour resize of each image (as load_img(interpolation='nearest')),
    noted; mixed sizes are then one batch."""
    a, b = _pixels(10, 6, seed=1), _pixels(5, 5, seed=2)
    pa, pb = _save(tmp_path / "a.png", a), _save(tmp_path / "b.png", b)
    notes: list[str] = []
    with open_samples(pa, _model((None, 4, 8, 3)), notes, None, [pb], (4, 8)) as ss:
        x = ss.read(0, 2)["x"]
    for got, px in zip(x, (a, b)):
        np.testing.assert_array_equal(got, np.asarray(Image.fromarray(px).resize((8, 4), Image.Resampling.NEAREST)))
    assert any("resized 10x6 -> 4x8 (HxW, nearest-neighbour, --resize)" in n for n in notes)
    assert any("resized 5x5 -> 4x8" in n for n in notes)


def test_any_size_for_an_input_without_declared_size(tmp_path):
    """An input declaring (None, None, None, 3) takes an image of any size as it is."""
    with open_samples(_save(tmp_path / "a.png", _pixels(9, 2)), _model((None, None, None, 3))) as ss:
        assert ss.sample_shapes["x"] == (9, 2, 3)


def _bad_files(tmp: Path) -> dict[str, tuple[str, str]]:
    """name -> (path, words the one line must hold)."""
    px = _pixels(4, 4)
    ok = tmp / "ok.png"
    _save(ok, px)
    ok_jpg = tmp / "ok.jpg"
    _save(ok_jpg, px)
    rgb16 = b"".join(b"\x00" + bytes(4 * 6) for _ in range(4))
    grey16 = b"".join(b"\x00" + bytes(4 * 2) for _ in range(4))
    palette = Image.fromarray(px).convert("P")
    palette.info["transparency"] = 0
    palette.save(tmp / "pa.png", transparency=0)
    Image.fromarray(px.astype(np.float32)[..., 0]).save(tmp / "f.tiff")
    (tmp / "trunc.png").write_bytes(ok.read_bytes()[:60])
    (tmp / "trunc.jpg").write_bytes(ok_jpg.read_bytes()[:len(ok_jpg.read_bytes()) // 2])
    (tmp / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    return {
        "rgba": (_save(tmp / "rgba.png", _pixels(4, 4, 4)), "alpha channel (mode RGBA)"),
        "la": (_save(tmp / "la.png", px, "LA"), "alpha channel (mode LA)"),
        "palette_alpha": (str(tmp / "pa.png"), "palette transparency"),
        "rgb16": (_png(tmp / "rgb16.png", 4, 4, 16, 2, rgb16), "more than 8 bits per channel (mode RGB, 16-bit)"),
        "grey16": (_png(tmp / "g16.png", 4, 4, 16, 0, grey16), "more than 8 bits per channel (mode I;16"),
        "float": (str(tmp / "f.tiff"), "more than 8 bits per channel (mode F"),
        "truncated_png": (str(tmp / "trunc.png"), "is not a readable image"),
        "truncated_jpg": (str(tmp / "trunc.jpg"), "is not a readable image"),
        "junk": (str(tmp / "junk.png"), "is not a readable image"),
        "bomb": (_png(tmp / "bomb.png", 100_000, 100_000, 8, 2, b""), "over Pillow's limit"),
        "bomb_warning": (_png(tmp / "bomb2.png", 10_000, 10_000, 8, 2, b""), "over Pillow's limit"),
        "size": (_save(tmp / "big.png", _pixels(5, 4)),
                 "image is 5x4 (HxW) but input 'x' takes 4x4: give --resize 4x4"),
    }


BAD = ["rgba", "la", "palette_alpha", "rgb16", "grey16", "float", "truncated_png", "truncated_jpg", "junk", "bomb",
       "bomb_warning", "size"]


@pytest.mark.parametrize("case", BAD)
def test_bad_image_is_one_line_exit_2(tmp_path, case, capsys, monkeypatch):
    """Each bad image is refused by `kstep report` (and `kstep dump`) as one line on stderr naming the file, exit 2,
    no traceback; a bomb is refused from its header, allocating nothing near its forged size."""
    path, words = _bad_files(tmp_path)[case]
    decoded: list[str] = []
    real = ImageFile.ImageFile.load

    def load(self):
        decoded.append(self.filename)
        return real(self)

    with monkeypatch.context() as m:
        m.setattr(ImageFile.ImageFile, "load", load)
        with pytest.raises(BadInput) as err:
            read_reference(path, _model((None, 4, 4, 3)))
    assert words in err.value.line() and err.value.line().startswith(path) and "\n" not in err.value.line()
    if case.startswith("bomb") or case == "size":
        assert decoded == []  # refused from the header: no pixel buffer of the forged size is ever made
    code = main(["report", str(PAIR / "old.h5"), str(PAIR / "new.h5"), path])
    err_text = capsys.readouterr().err
    assert code == 2 and len(err_text.strip().splitlines()) == 1 and "Traceback" not in err_text


def test_batch_and_directory_refusals(tmp_path):
    """Mixed sizes without --resize, an empty directory, a directory with more paths, an .npy among images,
    --resize on an .npy, a two-input model and a 4-channel input: one line each."""
    d = tmp_path / "d"
    d.mkdir()
    a, b = _save(d / "a.png", _pixels(4, 4)), _save(d / "b.png", _pixels(4, 5))
    model = _model((None, 4, None, 3))
    with pytest.raises(BadInput, match=r"one size .*a.png is 4x4 but .*b.png is 4x5"):
        open_samples(str(d), model)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "x.txt").write_text("x")
    with pytest.raises(BadInput, match="is a directory with no image files"):
        open_samples(str(tmp_path / "e"), model)
    with pytest.raises(UsageError, match="is a directory"):
        open_samples(str(d), model, None, None, [a])
    np.save(tmp_path / "r.npy", np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(UsageError, match="image files only"):
        open_samples(str(tmp_path / "r.npy"), model, None, None, [a])
    with pytest.raises(UsageError, match="--resize applies to image references"):
        open_samples(str(tmp_path / "r.npy"), model, None, None, (), (4, 4))
    with pytest.raises(BadInput, match="images feed a model with one input"):
        open_samples(a, _model((None, 4, 4, 3), inputs=2))
    with pytest.raises(BadInput, match="takes 4 channels"):
        open_samples(a, _model((None, 4, 4, 4)))
    with pytest.raises(BadInput, match="--resize 4x5 does not fit"):
        open_samples(b, _model((None, 4, 4, 3)), None, None, (), (4, 5))


def test_changed_after_opening_is_bad_input(tmp_path):
    """An image replaced by one of another size between opening and reading: one line, not a wrong batch."""
    path = _save(tmp_path / "a.png", _pixels(4, 4))
    ss = open_samples(path, _model((None, 4, 4, 3)))
    _save(tmp_path / "a.png", _pixels(4, 6))
    with pytest.raises(BadInput, match="changed since it was opened"):
        ss.read(0, 1)


def test_without_pillow_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    """Pillow not installed (its import made to fail): one line saying which extra to install, exit 2; an .npy
    REF still works without it."""
    path = _save(tmp_path / "a.png", _pixels(8, 8))
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    code = main(["report", str(PAIR / "old.h5"), str(PAIR / "new.h5"), path])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "reading images needs Pillow, which is not installed: pip install 'kstep[images]'"
    assert main(["report", str(PAIR / "old.h5"), str(PAIR / "new.h5"), str(PAIR / "ref.npy"), "--no-noise"]) == 0


def test_io_layout_rule_is_the_comparisons():
    """kstep.io.images.channels_first (io cannot import kstep.compare) decides every image-shaped input of every
    committed model file as the comparison's input_tag does, on both layouts."""
    seen = {True: 0, False: 0}
    for path in sorted(FIXTURES.rglob("*.h5")) + sorted(FIXTURES.rglob("*.keras")):
        try:
            mf = open_model(str(path), attach=False)
        except KstepError:
            continue  # weights-only files, hostile cases
        with mf:
            for ref in mf.model.inputs:
                shape = mf.model.layer(ref.layer).params.get("batch_input_shape")
                if shape is None or len(tuple(shape)) != 4:
                    continue
                want = input_tag(consumers(mf.model, ref.layer), 4).fmt == "channels_first"
                assert channels_first(mf.model, ref.layer) == want, (path, ref.layer)
                seen[want] += 1
    assert seen[True] >= 5 and seen[False] >= 5, seen
