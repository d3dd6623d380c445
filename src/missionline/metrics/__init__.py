"""The metric library: every metric is an Ibis expression evaluated in the engine."""
