"""Who speaks in each clip of `../shared/media/talking`, and which split each model puts them in.

One table names the speaker of every clip (`SPEAKERS`, after the folder's
SOURCES.md: the GRID clips `id2_vcd_swwp2s` and `pwij3p` are the same man,
the six CREMA-D clips one actor); each model that learns from the footage
assigns whole speakers to `train`, `dev` (choices while training) or `test`
(held out: scored once, never tuned on), so a speaker can never land in two
splits of one model. `splits` turns an assignment into the
`{stem: (speaker, split)}` form the training code reads; a speaker a model
does not assign is left out of its splits.
"""

from __future__ import annotations

CREMAD = tuple(f"cremad_1001_DFA_{e}_XX" for e in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD"))

# clip stem -> speaker
SPEAKERS: dict[str, str] = {
    "grid_bbaf2n": "grid-s1",
    "grid_id2_vcd_swwp2s": "grid-s2",
    "grid_pwij3p": "grid-s2",
    "grid_lbax4n": "grid-glasses",
    "grid_lrwp9a": "grid-s23",
    "usgov_WDA_BobMenendez_000": "usgov-menendez",
    "usgov_RD_Radio2_000": "usgov-rd2",
    "usgov_styletalk_KristiNoem_muxed": "usgov-noem",
    "usgov_styletalk_reagan_clip1_muxed": "usgov-reagan",
    "grid_lbbc2a": "grid-pink",
    "grid_sbia1a": "grid-sweater",
    "usgov_WDA_EdMarkey0_000": "usgov-markey",
    "grid_brbk7n": "grid-brown-hair",
    "grid_sbwe5n": "grid-light-shirt",
    "usgov_RD_Radio10_0_clip_0": "usgov-rd10",
    "usgov_RD_Radio34_000": "usgov-rd34",
    "usgov_WDA_KatieHill_000": "usgov-hill",
    "usgov_EDTalk_pose_source2": "usgov-lieu",
    **{stem: "cremad-1001" for stem in CREMAD},
}

# Audio2Motion v2's real clips (`training/real.py`): made before the presenter clips were added, so the
# only presenters it knows are two test speakers; the CREMA-D actor teaches it.
V2: dict[str, str] = {
    "grid-s1": "train", "grid-s2": "train", "grid-glasses": "train", "grid-s23": "train", "cremad-1001": "train",
    "grid-pink": "dev", "grid-sweater": "dev",
    "grid-brown-hair": "test", "grid-light-shirt": "test", "usgov-rd10": "test", "usgov-hill": "test",
}

# Audio2Motion v3 (`training/audio2motion_v3.py`): v2's test speakers stay held out, with the CREMA-D actor,
# the presenter RD_Radio34 (avatarkit.mouthbank.HELD_OUT) and the 60 s clip (long running speech).
V3: dict[str, str] = {
    "grid-s1": "train", "grid-s2": "train", "grid-glasses": "train", "grid-s23": "train",
    "usgov-menendez": "train", "usgov-rd2": "train", "usgov-noem": "train", "usgov-reagan": "train",
    "grid-pink": "dev", "grid-sweater": "dev", "usgov-markey": "dev",
    "grid-brown-hair": "test", "grid-light-shirt": "test", "usgov-rd10": "test", "usgov-rd34": "test",
    "usgov-hill": "test", "usgov-lieu": "test", "cremad-1001": "test",
}


# The mouth refiner (`training/refiner.py`, issue 26): the dev speakers are those of
# `benchmarks/photo_render.py --set dev` (RD_Radio2, EdMarkey, GRID lbax4n, KristiNoem); the held-out five of
# `--set held-out` (so every CREMA-D clip) and the mouth bank's other held-out speakers are never seen.
REFINER: dict[str, str] = {
    "grid-s1": "train", "grid-s2": "train", "grid-s23": "train", "grid-pink": "train", "grid-sweater": "train",
    "usgov-menendez": "train", "usgov-reagan": "train", "usgov-lieu": "train",
    "usgov-rd2": "dev", "usgov-markey": "dev", "grid-glasses": "dev", "usgov-noem": "dev",
    "grid-brown-hair": "test", "grid-light-shirt": "test", "usgov-rd10": "test", "usgov-rd34": "test",
    "usgov-hill": "test", "cremad-1001": "test",
}


def splits(assignment: dict[str, str]) -> dict[str, tuple[str, str]]:
    """`{stem: (speaker, split)}` for every clip whose speaker `assignment` places, in `SPEAKERS` order."""
    unknown = set(assignment) - set(SPEAKERS.values())
    if unknown:
        raise ValueError(f"speakers not in the table: {sorted(unknown)}")
    return {stem: (spk, assignment[spk]) for stem, spk in SPEAKERS.items() if spk in assignment}
