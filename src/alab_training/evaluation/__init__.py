"""Evaluating models and annotators: entity matching as nervaluate counts it, token-level scores, annotator
agreement (span F1, Cohen's kappa, Krippendorff's alpha), paired bootstrap comparison, error tables."""
