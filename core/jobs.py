"""Background training jobs: fit a detector and save its bundle without blocking the caller.

The dashboard keeps one :class:`TrainingJob` per analyst session. ``start()`` runs
``AutoencoderDetector.fit`` and ``save_bundle`` in a daemon thread, so the page can poll
``progress`` every second and other sessions stay responsive. ``stop()`` sets an event
that the per-epoch callback checks: training ends cleanly after the current epoch, the
model trained so far gets its threshold and is saved like any other bundle.

UI-free: no Streamlit here; the CLI or a test can drive a job the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.artifacts import BundleInfo, save_bundle
from core.errors import DataError
from core.loading import EmailLog
from core.model import AutoencoderDetector, EpochProgress
from core.provenance import training_metadata

log = logging.getLogger(__name__)
_DEFAULTS = AutoencoderDetector().get_params()

PENDING, RUNNING, STOPPING, DONE, FAILED = "pending", "running", "stopping", "done", "failed"


@dataclass
class TrainingJob:
    """One training run in a background thread.

    Parameters
    ----------
    frame : DataFrame
        Rows to train on (a loaded log's ``frame[scorable]``, or a subset of it).
    params : dict
        Keyword arguments for :class:`~core.model.AutoencoderDetector`.
    artifacts_dir : path
        Where the bundle is saved.
    name : str, optional
        Bundle name (``None``: a timestamped default; a taken name gets a suffix).
    extra_metadata : dict, optional
        Added to the bundle's metadata, after the training metadata.
    fit_options : dict, optional
        Keyword arguments for ``fit`` (``always_keep``: benign-verdict rows screening must keep).
    log : EmailLog, optional
        The log ``frame`` came from: its source, size and column mapping go into the
        bundle's training metadata (:func:`core.provenance.training_metadata`, computed in
        the job's thread: fingerprinting a large log takes a moment).

    State (read from any thread): ``status``, ``progress`` (list of EpochProgress),
    ``bundle`` (BundleInfo once saved), ``detector``, ``error`` (a one-line message).
    """

    frame: pd.DataFrame
    params: dict
    artifacts_dir: str | Path
    name: str | None = None
    extra_metadata: dict | None = None
    fit_options: dict | None = None
    log: EmailLog | None = field(default=None, repr=False)
    status: str = field(default=PENDING, init=False)
    bundle: BundleInfo | None = field(default=None, init=False)
    detector: AutoencoderDetector | None = field(default=None, init=False, repr=False)
    error: str | None = field(default=None, init=False)
    started_at: float | None = field(default=None, init=False)
    finished_at: float | None = field(default=None, init=False)
    _progress: list = field(default_factory=list, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    # -- control --------------------------------------------------------------------------

    def start(self) -> TrainingJob:
        """Start training in a daemon thread (once); returns self."""
        if self._thread is not None:
            raise RuntimeError("This training job was already started.")
        self.status = RUNNING
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._run, name="training-job", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask training to end after the current epoch; the model so far is still saved."""
        self._stop.set()
        if self.status == RUNNING:
            self.status = STOPPING

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (or ``timeout`` seconds); True when finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finished

    # -- state ----------------------------------------------------------------------------

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED)

    @property
    def running(self) -> bool:
        return self.status in (RUNNING, STOPPING)

    @property
    def progress(self) -> list[EpochProgress]:
        """A copy of the per-epoch progress so far."""
        with self._lock:
            return list(self._progress)

    @property
    def epochs(self) -> int:
        """Epochs of the final fit."""
        return int(self.params.get("epochs", _DEFAULTS["epochs"]))

    @property
    def screening_epochs(self) -> int:
        """Epochs of the screening fit that runs first (0 when the detector doesn't trim)."""
        trims = float(self.params.get("trim_fraction", _DEFAULTS["trim_fraction"])) > 0
        return int(self.params.get("screening_epochs", _DEFAULTS["screening_epochs"])) if trims else 0

    @property
    def stage(self) -> str:
        """ "screening" or "training": what the latest epoch belonged to (before any: the first stage)."""
        steps = self.progress
        if steps:
            return steps[-1].stage
        return "screening" if self.screening_epochs else "training"

    @property
    def history(self) -> dict:
        """Loss curves of the current stage so far, shaped like ``detector.history_``."""
        steps = [p for p in self.progress if p.stage == self.stage]
        return {
            "loss": [p.loss for p in steps],
            "val_loss": [p.val_loss for p in steps if p.val_loss is not None],
        }

    def eta(self) -> float | None:
        """Seconds left, from the mean epoch time so far (None before the first epoch).

        The first epoch of a stage also pays for building the graph, so once a stage has two
        epochs the estimate uses the epochs after its first. A screening stage still has
        the whole final fit ahead of it, whose epochs take longer by its larger share of rows.
        """
        steps = self.progress
        if not steps:
            return None
        current = [p for p in steps if p.stage == steps[-1].stage]
        first, last = current[0], current[-1]
        if last.epoch > first.epoch:
            per_epoch = (last.elapsed - first.elapsed) / (last.epoch - first.epoch)
        else:
            per_epoch = last.elapsed / last.epoch
        left = max(last.epochs - last.epoch, 0)
        if last.stage == "screening":
            left += self.epochs * self._final_rows_per_screening_row()
        return per_epoch * left

    def _final_rows_per_screening_row(self) -> float:
        """Rows a final-fit epoch trains on per row of a screening epoch (capped by ``screening_rows``)."""
        params = {**_DEFAULTS, **self.params}
        training = len(self.frame) * (1 - params["test_size"])
        screening = min(training, params["screening_rows"])
        return training * (1 - params["trim_fraction"]) / max(screening, 1.0)

    # -- the thread -----------------------------------------------------------------------

    def _on_epoch(self, progress: EpochProgress) -> bool:
        with self._lock:
            self._progress.append(progress)
        return self._stop.is_set()

    def _run(self) -> None:
        try:
            detector = AutoencoderDetector(**self.params)
            detector.fit(self.frame, callback=self._on_epoch, **(self.fit_options or {}))
            extra = {**training_metadata(self.log, self.frame), **(self.extra_metadata or {})}
            if self._stop.is_set():
                extra["stopped_by_user"] = True
            self.bundle = save_bundle(detector, self.artifacts_dir, name=self.name, extra_metadata=extra)
            self.detector = detector
            self.status = DONE
        except DataError as error:
            self.error = str(error)
            self.status = FAILED
        except Exception as error:  # noqa: BLE001 - reported to the analyst, logged in full
            log.exception("Training job failed")
            self.error = f"Training failed unexpectedly ({type(error).__name__}: {error})."
            self.status = FAILED
        finally:
            self.finished_at = time.time()
