"""Personal avatars: a movable folder made from a person's footage or photo, with their consent.

Layout of `<home>/avatars/<name>/` for a footage avatar (`kind` "footage"):

| file | what |
| --- | --- |
| `avatar.json` | name, source footage digest, frame size and rate, intake summary, consent record |
| `footage.<ext>` | the footage as given (frames are read from it, never re-encoded) |
| `track.npz` | per frame: landmarks, usable or not, head pose, eyes, blinks, inner lips, teeth, mouth sharpness |
| `mouths.npz` | the person's own mouth bank (`avatarkit.mouthbank`); absent when no frame shows an open mouth |
| `audio.wav` | the footage's sound, when it has any (48 kHz mono) |
| `consent/` | the consent document as given |
| `model/` | the trained mouth model (`MouthDiffusion.save_pretrained`), only after the optional `avatar train` |

A photo avatar (`kind` "photo", `add_photo_avatar`) holds `avatar.json`,
`photo.<ext>`, `consent/` and, when the person gave a second photo with the
mouth open or a few seconds of footage, `mouths.npz`: their own teeth, which
the `bank` renderer prefers to the shared bank's.

`home` is `$AVATARKIT_HOME`, else `~/.avatarkit`. Nothing refers to
absolute paths, so the folder can be copied to another machine. An avatar
is created in a hidden temporary folder and renamed into place when
intake succeeded, so a failed `add` leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from ..errors import AvatarkitError
from ..utils.files import avatarkit_home, sha256_file
from .footage import FootageTrack, FrameFeatures, analyse_footage, own_mouths, usable_run, video_frames

if TYPE_CHECKING:   # the rig module loads MediaPipe; imported where a rig is made
    from .rig import FaceRig

AVATAR_FILE = "avatar.json"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AvatarError(AvatarkitError):
    """An avatar that cannot be created, found or used."""


HOUSE_AVATARS = Path(__file__).resolve().parents[1] / "avatars"
DEFAULT_PRESENTER = "presenter"


def house_avatar(name: str) -> Path | None:
    """The photo of a presenter that ships with avatarkit, by name, or None.

    `presenter` (the default of a script or deck that names no avatar) is
    the public-domain NASA astronaut portrait that scikit-image ships.
    """
    p = HOUSE_AVATARS / f"{name}.png"
    return p if NAME.match(name) and p.is_file() else None


def avatars_home(home: str | Path | None = None) -> Path:
    """The folder holding avatar folders: `home/avatars`, `$AVATARKIT_HOME/avatars` or `~/.avatarkit/avatars`."""
    base = Path(home) if home else avatarkit_home()
    return base / "avatars"




@dataclass
class Avatar:
    """An avatar folder; `meta` is the content of its `avatar.json`."""

    folder: Path
    meta: dict

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def kind(self) -> str:
        """"footage" or "photo"."""
        return self.meta.get("kind", "footage")

    @property
    def footage(self) -> Path:
        if self.kind != "footage":
            raise AvatarError(f"avatar {self.name!r} was made from a photo, not footage")
        return self.folder / self.meta["footage"]["file"]

    @property
    def photo(self) -> Path:
        if self.kind != "photo":
            raise AvatarError(f"avatar {self.name!r} was made from footage, not a photo")
        return self.folder / self.meta["photo"]["file"]

    @property
    def audio(self) -> Path | None:
        p = self.folder / "audio.wav"
        return p if p.is_file() else None

    @property
    def model_dir(self) -> Path:
        return self.folder / "model"

    @property
    def trained(self) -> bool:
        return (self.model_dir / "config.json").is_file()

    @property
    def mouths_file(self) -> Path | None:
        """The person's own mouth bank, or None when their footage showed no open mouth."""
        p = self.folder / "mouths.npz"
        return p if p.is_file() else None

    def mouth_bank(self):
        """The `MouthBank` to paste this person's mouths from: their own, else the shipped one."""
        from ..mouthbank import load_bank

        return load_bank(self.mouths_file)

    @cached_property
    def track(self) -> FootageTrack:
        return FootageTrack.load(self.folder / "track.npz")

    @cached_property
    def poses(self):
        """Smoothed crop poses of every footage frame (N, 5), NaN on unusable frames (`face.crop`)."""
        from .crop import track_poses

        return track_poses(self.track.landmarks, self.track.good)

    def save_meta(self) -> None:
        tmp = self.folder / (AVATAR_FILE + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=2) + "\n")
        tmp.replace(self.folder / AVATAR_FILE)


def is_avatar_folder(path: str | Path) -> bool:
    return (Path(path) / AVATAR_FILE).is_file()


def is_footage_avatar(path: str | Path) -> bool:
    """Whether `path` is an avatar folder made from footage (not from a photo)."""
    try:
        return is_avatar_folder(path) and json.loads((Path(path) / AVATAR_FILE).read_text()).get("kind") != "photo"
    except (OSError, ValueError, AttributeError):
        return False


def open_avatar(ref: str | Path, home: str | Path | None = None) -> Avatar:
    """Open an avatar by name (in `avatars_home`) or by folder path; `AvatarError` if there is none."""
    p = Path(ref)
    folder = p if is_avatar_folder(p) else avatars_home(home) / str(ref)
    if not is_avatar_folder(folder):
        raise AvatarError(f"no avatar {str(ref)!r} (looked for {folder / AVATAR_FILE}); "
                          f"create one with `avatarkit avatar add {p.name} --footage VIDEO --consent FILE`")
    try:
        meta = json.loads((folder / AVATAR_FILE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AvatarError(f"{folder / AVATAR_FILE}: unreadable ({e})") from None
    if isinstance(meta, dict) and meta.get("kind") == "photo":
        if not isinstance(meta.get("photo"), dict) or "file" not in meta["photo"] or "name" not in meta:
            raise AvatarError(f"{folder / AVATAR_FILE}: not a photo avatar record (name and photo.file expected)")
        needs = [meta["photo"]["file"]] + (["mouths.npz"] if meta.get("mouths", {}).get("source") == "own" else [])
    elif not isinstance(meta, dict) or not isinstance(meta.get("footage"), dict) or "file" not in meta["footage"] \
            or "name" not in meta or "intake" not in meta:
        raise AvatarError(f"{folder / AVATAR_FILE}: not an avatar record (name, footage.file and intake expected)")
    else:
        needs = [meta["footage"]["file"], "track.npz"]
    for need in needs:
        if not (folder / need).is_file():
            raise AvatarError(f"{folder}: {need} is missing; the avatar folder is incomplete, add it again")
    return Avatar(folder, meta)


def list_avatars(home: str | Path | None = None) -> list[Avatar]:
    root = avatars_home(home)
    if not root.is_dir():
        return []
    return [open_avatar(p) for p in sorted(root.iterdir()) if is_avatar_folder(p)]


def footage_digest(video: str | Path) -> str:
    """The SHA-256 (hex) an avatar records of the footage it was made from."""
    return sha256_file(Path(video))


def find_by_footage(video: str | Path, home: str | Path | None = None, digest: str | None = None) -> Avatar | None:
    """The avatar made from exactly this video file (same SHA-256, or the given `digest`), if any."""
    digest = digest or sha256_file(Path(video))
    for a in list_avatars(home):
        if a.kind == "footage" and a.meta.get("footage", {}).get("sha256") == digest:
            return a
    return None


def add_avatar(name: str, footage: str | Path, consent: str | Path, *, home: str | Path | None = None,
               progress: Callable[[int, int], None] | None = None, max_frames: int | None = None,
               bank_min_open: float | None = None) -> Avatar:
    """Create avatar `name` from `footage` (a talking video) and a `consent` document.

    Runs footage intake (`face.footage.analyse_footage`), copies the video,
    its sound and the consent document into the new folder and records the
    consent's SHA-256 and the time it was given. Builds the person's own mouth bank
    (`mouths.npz`) from their usable open-mouth frames (inner lips open by at least
    `bank_min_open` IOD, default `footage.BANK_MIN_OPEN`); without any, warns and leaves the shipped bank to fill in.
    No training is done: `avatar train` is optional. Raises `AvatarError` for a
    bad name, an existing avatar, or a missing consent file, before any work.
    """
    from ..audio.io import AudioError, load_audio

    footage, consent = Path(footage), Path(consent)
    if not footage.is_file():
        raise AvatarError(f"{footage}: footage not found")
    folder = _new_folder(name, consent, home)
    with _building(folder) as tmp:
        from . import footage as _footage

        bank_min_open = _footage.BANK_MIN_OPEN if bank_min_open is None else bank_min_open
        feats = FrameFeatures(bank_min_open)
        track = analyse_footage(footage, progress=progress, max_frames=max_frames, features=feats)
        track.save(tmp / "track.npz")
        bank = own_mouths(track, feats, name)
        if bank is not None:
            bank.save(tmp / "mouths.npz")
            mouths = {"source": "own", "entries": len(bank), "file": "mouths.npz"}
        else:
            op = track.features.get("opening")
            widest = float(np.nanmax(op[track.good])) if op is not None and track.good.any() else float("nan")
            track.warnings.append(
                f"the footage never shows an open mouth (checked {track.frames / track.fps:.1f} s, "
                f"0.0-{track.frames / track.fps:.1f} s: {int(track.good.sum())} usable frames, widest inner-lip "
                f"opening {widest:.3f} IOD, {bank_min_open:g} needed): the shipped mouth bank fills in; film the "
                f"person talking with the lips apart for their own mouths")
            mouths = {"source": "shipped", "entries": 0}
        shutil.copyfile(footage, tmp / f"footage{footage.suffix.lower() or '.mp4'}")
        has_audio = True
        try:
            import soundfile as sf

            sf.write(tmp / "audio.wav", load_audio(footage, 48_000), 48_000, subtype="PCM_16")
        except AudioError:
            has_audio = False
        (tmp / "consent").mkdir()
        shutil.copyfile(consent, tmp / "consent" / consent.name)
        meta = {
            "name": name,
            "kind": "footage",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "footage": {"file": f"footage{footage.suffix.lower() or '.mp4'}", "source": footage.name,
                        "sha256": sha256_file(footage), "fps": track.fps, "width": track.width,
                        "height": track.height, "frames": track.frames, "audio": has_audio},
            "intake": {"usable": int(track.good.sum()), "rejected": track.rejected, "warnings": track.warnings,
                       "neutral": track.neutral, "loops": [list(x) for x in track.loops],
                       "blinks": int(np.count_nonzero(np.diff(track.features["blink"].astype(np.int8)) == 1))
                       if "blink" in track.features else 0},
            "mouths": mouths,
            "consent": _consent_entry(consent),
        }
        (tmp / AVATAR_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return open_avatar(folder)


def _new_folder(name: str, consent: Path, home: str | Path | None) -> Path:
    """The new avatar's folder, after checking the name, the consent document and that no
    avatar of that name exists; `AvatarError` otherwise, before any work."""
    if not NAME.match(name):
        raise AvatarError(f"avatar name {name!r}: use 1-64 lowercase letters, digits, '-' or '_'")
    if not consent.is_file():
        raise AvatarError(f"{consent}: consent document not found; an avatar of a real person needs "
                          f"their recorded consent (a signed form, a statement on video, ...)")
    folder = avatars_home(home) / name
    if folder.exists():
        raise AvatarError(f"avatar {name!r} already exists at {folder}; remove it first or pick another name")
    return folder


def _consent_entry(consent: Path) -> dict:
    """The avatar record's consent entry for the document copied to `consent/`."""
    return {"file": f"consent/{consent.name}", "sha256": sha256_file(consent),
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@contextmanager
def _building(folder: Path) -> Iterator[Path]:
    """A hidden folder beside `folder` to build an avatar in: renamed to `folder` when the block ends
    without an error, removed when it raises, so the avatar exists whole or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.rename(folder)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MOUTHS_MAX_S = 60.0     # seconds of a mouths video that are read


def mouths_from(path: str | Path, name: str):
    """The person's own mouth bank from a photo with the mouth open or a short video of them talking
    (its first `MOUTHS_MAX_S` seconds); `AvatarError` naming the widest opening found when no frame shows
    an open mouth, or when the file holds no face."""
    from ..eval.metrics import mouth_opening
    from ..mouthbank.cut import bank_from_frames
    from .detect import load_image
    from .footage import BANK_MIN_OPEN, video_frames, video_info

    path = Path(path)
    if not path.is_file():
        raise AvatarError(f"{path}: mouths file not found")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        frames = [load_image(path)]
        fps = 1.0
    else:
        try:
            fps = video_info(path)[0]
        except Exception:
            raise AvatarError(f"{path}: not a readable photo or video") from None
        frames = []
        for rgb in video_frames(path):
            if len(frames) >= int(MOUTHS_MAX_S * fps):
                break
            frames.append(rgb)
    bank, L = bank_from_frames(frames, name, BANK_MIN_OPEN)
    found = np.isfinite(L).all(axis=(1, 2))
    if not found.any():
        raise AvatarError(f"{path}: no face found")
    if bank is None:
        widest = float(np.max(mouth_opening(L[found][:, :, :2])))
        where = "" if len(frames) == 1 else f" in {len(frames) / fps:.1f} s"
        raise AvatarError(f"{path}: the mouth never opens enough to show the teeth{where} (widest inner-lip opening "
                          f"{widest:.3f} of the eye distance, {BANK_MIN_OPEN:g} needed, facing the camera); use a "
                          f"photo of a broad smile or a few seconds of the person talking")
    return bank


def add_photo_avatar(name: str, photo: str | Path, consent: str | Path, *, mouths: str | Path | None = None,
                     home: str | Path | None = None) -> Avatar:
    """Create photo avatar `name` from `photo` and a `consent` document, with the person's own teeth from
    `mouths` (a second photo with the mouth open, or a few seconds of them talking; see `mouths_from`).

    The photo passes the same intake checks as a script's photo (`face.rig.load_avatar`: a face, a
    mouth large enough, not turned away or covered). Raises `AvatarError` (or `FaceError`) before anything
    is written; a failed add leaves nothing behind.
    """
    from .rig import load_avatar

    photo, consent = Path(photo), Path(consent)
    if not photo.is_file():
        raise AvatarError(f"{photo}: photo not found")
    if photo.suffix.lower() not in IMAGE_SUFFIXES:
        raise AvatarError(f"{photo}: expected a photo ({', '.join(IMAGE_SUFFIXES)})")
    folder = _new_folder(name, consent, home)
    load_avatar(photo)
    bank = mouths_from(mouths, name) if mouths is not None else None
    with _building(folder) as tmp:
        shutil.copyfile(photo, tmp / f"photo{photo.suffix.lower()}")
        if bank is not None:
            bank.save(tmp / "mouths.npz")
        (tmp / "consent").mkdir()
        shutil.copyfile(consent, tmp / "consent" / consent.name)
        meta = {
            "name": name,
            "kind": "photo",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "photo": {"file": f"photo{photo.suffix.lower()}", "source": photo.name, "sha256": sha256_file(photo)},
            "mouths": ({"source": "own", "entries": len(bank), "file": "mouths.npz", "from": Path(mouths).name,
                        "sha256": sha256_file(Path(mouths))} if bank is not None else {"source": "shipped",
                                                                                       "entries": 0}),
            "consent": _consent_entry(consent),
        }
        (tmp / AVATAR_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return open_avatar(folder)


def avatar_rig(folder: str | Path):
    """The `FaceRig` a scene draws from an avatar folder: a photo avatar's photo, carrying its own mouths; a
    footage avatar's idle-loop frame."""
    from dataclasses import replace

    a = open_avatar(folder)
    if a.kind == "photo":
        from .rig import load_avatar

        rig = load_avatar(a.photo)
        return replace(rig, mouths=str(a.mouths_file)) if a.mouths_file is not None else rig
    return footage_rig(a.folder)


MAX_LOOP_S = 6.0   # seconds: the longest stretch of still footage an idle avatar plays forwards and back


def idle_frames(avatar: Avatar) -> tuple[list[int], bool]:
    """Footage frame indices the idle motion plays, and whether they loop (else they play forwards and back)."""
    t = avatar.track
    if t.loops:
        a, b = t.loops[0]
        return list(range(a, b)), True
    a, b = usable_run(t, int(MAX_LOOP_S * t.fps))
    return list(range(a, b)), False


@dataclass
class IdleClip:
    """A footage avatar's idle motion at one on-screen size, what the footage and diffusion renderers play."""

    images: list[np.ndarray]      # RGB uint8 (h, w, 3), in playback order
    poses: list[np.ndarray]       # each frame's crop pose (`face.crop.face_pose`), pixels of this size
    points: list[np.ndarray]      # each frame's (478, 2) landmarks, pixels of this size
    mattes: list[np.ndarray]      # (h, w) uint8 person mattes, steady over the clip (`MatteSequence`)
    loops: bool                   # the clip loops; else it plays forwards and back

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        """Bytes its frames and mattes hold."""
        return sum(a.nbytes for a in self.images) + sum(a.nbytes for a in self.mattes)

    def at(self, i: int) -> int:
        """The clip frame shown at output frame `i`: round the loop, or forwards then back (never a jump)."""
        n = len(self.images)
        if self.loops or n == 1:
            return i % n
        k = i % (2 * n - 2)
        return k if k < n else 2 * n - 2 - k


def idle_clip(avatar: Avatar, width: int, height: int) -> IdleClip:
    """The frames of `idle_frames(avatar)` scaled to `width` x `height`, with their poses, landmarks and mattes.

    Mattes are averaged over neighbouring frames in playback order so they do not shimmer; they are kept
    as uint8 (a 6 s loop at 1080p is 150 frames, and float32 would add 1.2 GB).
    """
    import cv2

    from .matting import MatteSequence

    t = avatar.track
    frames, loops = idle_frames(avatar)
    if not frames:
        raise AvatarError(f"avatar {avatar.name!r}: its footage has no usable stretch to idle on")
    wanted = set(frames)
    scale = width / t.width
    poses = avatar.poses
    images, ps, points = [], [], []
    seq = MatteSequence(loop=loops)
    for k, rgb in enumerate(video_frames(avatar.footage)):
        if k > frames[-1]:
            break
        if k in wanted:
            img = rgb if (width, height) == (t.width, t.height) else \
                cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
            images.append(img)
            seq.add(img)
            ps.append(poses[k] * scale)
            points.append(t.landmarks[k][:, :2] * scale)
    if not images:
        raise AvatarError(f"avatar {avatar.name!r}: its idle motion has no usable frames")
    mattes = [np.round(seq.matte(i, img) * 255).astype(np.uint8) for i, img in enumerate(images)]
    return IdleClip(images, ps, points, mattes, loops)


KEEP_CLIPS = 2      # idle clips kept per process (an avatar at one size each), shared by the renderers showing it
# ... and the most bytes they may hold together. A 6 s loop is ~310 MB at 960x540 and ~1.2 GB at 1080p, so two
# 1080p clips would keep 2.5 GB after their sessions end; past this bound only the clip last asked for stays.
KEEP_CLIP_BYTES = 1 << 30
_CLIPS: OrderedDict[tuple, IdleClip] = OrderedDict()
# Every clip still shown by some renderer, kept or not: one evicted while a session shows it is found here, not
# decoded a second time beside the first.
_SHOWN: "weakref.WeakValueDictionary[tuple, IdleClip]" = weakref.WeakValueDictionary()
_CLIPS_LOCK = threading.Lock()


def shared_idle_clip(avatar: Avatar, width: int, height: int) -> IdleClip:
    """`idle_clip`, decoded once per avatar and size and shared (read-only) by every scene and live session
    that shows it, with the footage or the diffusion renderer: decoding and steadying the mattes took 1.6 s
    and about 300 MB for a 6 s avatar at 960x540, per session. A changed footage or avatar file makes a new
    entry."""
    stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in (avatar.footage, avatar.folder / AVATAR_FILE))
    key = (str(avatar.folder.resolve()), width, height, stamp)
    with _CLIPS_LOCK:
        clip = _CLIPS.get(key)
        if clip is None:
            clip = _SHOWN.get(key)
        if clip is None:
            clip = idle_clip(avatar, width, height)
            for a in clip.images + clip.mattes:
                a.flags.writeable = False       # shared: a renderer copies a frame before drawing on it
            _SHOWN[key] = clip
        _CLIPS[key] = clip
        _CLIPS.move_to_end(key)
        # Oldest first; the clip just asked for always stays (its caller holds it anyway).
        while len(_CLIPS) > 1 and (len(_CLIPS) > KEEP_CLIPS or
                                   sum(c.nbytes for c in _CLIPS.values()) > KEEP_CLIP_BYTES):
            _CLIPS.popitem(last=False)
        return clip


def footage_rig(folder: str | Path) -> FaceRig:
    """The `FaceRig` a layout places for a footage avatar: the first frame of its idle motion."""
    from .rig import rig_from_image

    avatar = open_avatar(folder)
    start = idle_frames(avatar)[0][0]
    for k, rgb in enumerate(video_frames(avatar.footage)):
        if k == start:
            rig = rig_from_image(rgb, source=str(avatar.folder))
            return rig
    raise AvatarError(f"{avatar.footage}: frame {start} not found")


def rig_for(path: str | Path):
    """The `FaceRig` drawn for an avatar path a script or a live session names: an avatar folder's
    (`avatar_rig`) or a photo's."""
    if Path(path).is_dir():
        return avatar_rig(path)
    from .rig import load_avatar

    return load_avatar(path)


def remove_avatar(name: str, home: str | Path | None = None) -> Path:
    a = open_avatar(name, home)
    shutil.rmtree(a.folder)
    return a.folder
