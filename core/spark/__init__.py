"""The Spark engine: the local detector's scoring and training on Apache Spark (see docs/scale-out.md)."""
