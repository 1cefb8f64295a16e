"""Feature sets: turning log rows into numbers the autoencoder reconstructs.

Two preprocessors, both scikit-learn transformers saved with joblib, interchangeable through
``FeatureSet`` (``make_preprocessor(name)`` makes one):

``SeedFeatures`` — the report's recipe, kept faithful for comparison: UUID dropped;
Recipient, Sender and Subject label-encoded with one encoder per column; Time Processed as
Unix seconds; StandardScaler.

``EmailFeatures`` — the default. Features that mean something for mail in any organisation:
how rare the sender, its domain, the recipients, their domains and the sender→recipient
pairs are; look-alikes of familiar domains; number of recipients and how many are external;
the subject's shape and how rare its words are; hour and weekday as cycles; the sender's
usual hours; bursts and fan-out of one sender within a few minutes. It is the default
because the seed recipe's absolute Unix time makes every new day look anomalous when a
model trained on last month scores today, and its label codes are arbitrary integers whose
distances mean nothing.

Training rows are counted *with* their own occurrence (``leave_one_out=False``, the default):
the autoencoder then learns what familiar mail looks like, and a first-contact sender, pair or
subject at scoring time lies off that manifold. Counting leave-one-out (the option) makes
"never seen before" an everyday value in training — a third of legitimate mail is first
contact — and the reconstruction error can no longer see novelty, the strongest spam signal.
Burst and fan-out features are counted within the file being processed, in fixed time windows,
so they mean the same on a month of training mail and on one day.

Modules
-------
``parsing``      addresses, display names, domains, subjects; ``ParsedLog``, one log parsed lazily
``counting``     count tables learned in ``fit`` and looked up at scoring; time-window counts
``signals``      what a field's text says on its own; look-alike domains; bursts and campaigns
``registry``     ``Feature`` (how a feature is declared), feature kinds, ``ReasonText``
``catalog``      ``EMAIL_FEATURES``: every email feature, declared once
``measures``     ``Measures``: quantities several email features share, computed once per log
``email``        ``EmailFeatures``: learns the count tables, scales, explains
``seed``         ``SeedFeatures``
``feature_set``  ``FeatureSet`` (what scoring and the model use) and ``make_preprocessor``

Adding an email feature
-----------------------
Append one ``Feature`` to ``EMAIL_FEATURES`` in ``catalog.py``::

    Feature(
        "subject_exclaims",                  # name: describe() column and model column
        SUBJECT,                             # the log field it speaks about
        COUNT,                               # kind: COUNT (log1p), LOG, RATIO, HOUR, WEEKDAY
        compute=lambda log: log.parsed.subject.str.count("!").to_numpy(float),
        reason=lambda rows: "subject has " + rows.count + " '!'",
    ),

``compute`` gets ``Measures`` (the parsed log ``log.parsed``, the learned count tables
``log.counts``, each row's own occurrence ``log.own``, and shared quantities such as
``log.sender_count``); write longer computations as a function next to the others in
``catalog.py``. ``reason`` gets ``ReasonText`` for the rows whose top feature it is
(``rows.value``, ``rows.pick(condition, if_true, if_false)``, ``rows.count``...). The
feature names, fields, kinds, model columns, scaling floors and reasons all follow from the
declaration. A feature that needs a new learned count table also adds it to
``core.features.email.count_tables`` (and to the Spark
``core.spark.training.spark_count_tables``); models saved before then lack the table and must be
retrained. Append at the end: models keep the columns they were trained with, but the
column order shapes every model trained afterwards.

Saved models pickle ``core.features.EmailFeatures`` and ``core.features.SeedFeatures`` by
these names: keep them importable from here.
"""

from core.features.email import EmailFeatures
from core.features.feature_set import DEFAULT_FEATURE_SET, FEATURE_SETS, FeatureSet, make_preprocessor
from core.features.parsing import (
    display_names,
    domain_of,
    normalized_subject,
    recipient_lists,
    sender_addresses,
    sender_identities,
)
from core.features.seed import UNSEEN_CODE, SeedFeatures
from core.features.signals import BURST_WINDOW, FANOUT_WINDOW

__all__ = [
    "BURST_WINDOW",
    "DEFAULT_FEATURE_SET",
    "FANOUT_WINDOW",
    "FEATURE_SETS",
    "UNSEEN_CODE",
    "EmailFeatures",
    "FeatureSet",
    "SeedFeatures",
    "display_names",
    "domain_of",
    "make_preprocessor",
    "normalized_subject",
    "recipient_lists",
    "sender_addresses",
    "sender_identities",
]
