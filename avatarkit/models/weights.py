"""A trained network's folder: `config.json` beside `model.safetensors` (and `training.json`, how it was made).

Every small network avatarkit trains (Audio2Motion, the mouth refiner, the
sync judge) is saved and loaded through these two functions, so each folder
reads the same way and a folder whose weights do not fit its config is
refused with the file named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable


def save_folder(folder: str | Path, config: dict, net, meta: dict | None = None) -> Path:
    """Write `config` as `config.json`, `net`'s weights as `model.safetensors` and, if given, `meta` as
    `training.json` into `folder` (made if missing)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    if meta is not None:
        (folder / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def load_folder(folder: str | Path, config_from: Callable[[dict], object], build: Callable[[object], object],
                error: type[Exception]):
    """(config, network) from a folder `save_folder` wrote: the config parsed by `config_from`, the network
    made by `build(config)` with the weights loaded. A missing file, a bad config or weights that do not fit
    it raise `error` naming the file."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, w_path = folder / "config.json", folder / "model.safetensors"
    for p in (cfg_path, w_path):
        if not p.exists():
            raise error(f"{folder}: missing {p.name}")
    try:
        cfg = config_from(json.loads(cfg_path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise error(f"{cfg_path}: {e}") from None
    net = build(cfg)
    try:
        net.load_state_dict(load_file(str(w_path)))
    except RuntimeError as e:
        raise error(f"{w_path}: weights do not match config.json ({str(e).splitlines()[0]})") from None
    return cfg, net
