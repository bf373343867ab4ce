"""A literal, un-optimised transcription of the green_flare specification (docs/metrics.md).

Written step by step from the specification of the FLARE 2025 baseline metric, in the same
shape as the reference: one regular expression per term, compiled on every search; the text
lower-cased for each use; a context string cut for every mention and scanned for every
modifier, marker and size pattern; the negation window re-cut and re-scanned for every
comparison; ``numpy.corrcoef`` and ``numpy.mean``. It is the throughput baseline of
``bench_metrics.py`` and the oracle of the property tests (``tests/metrics``); it shares no code
with ``rrg.metrics.green_flare``.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

ENTITIES = {
    "normal": (0, 1.0, ["normal", "unremarkable", "no abnormality", "clear", "no acute findings"]),
    "opacity": (2, 0.8, ["opacity", "opacities", "opacification", "density", "densities"]),
    "consolidation": (
        3,
        0.9,
        ["consolidation", "consolidations", "consolidated", "airspace disease"],
    ),
    "effusion": (2, 0.8, ["effusion", "effusions", "fluid", "pleural fluid"]),
    "pneumothorax": (4, 1.0, ["pneumothorax", "pneumothoraces", "collapsed lung", "air leak"]),
    "nodule": (3, 0.9, ["nodule", "nodules", "mass", "lesion", "tumor", "neoplasm"]),
    "fracture": (3, 0.9, ["fracture", "fractures", "fractured", "break", "broken"]),
    "cardiomegaly": (
        2,
        0.7,
        ["cardiomegaly", "enlarged heart", "cardiac enlargement", "heart enlargement"],
    ),
    "edema": (2, 0.8, ["edema", "edematous", "swelling", "pulmonary edema", "interstitial edema"]),
    "infiltrate": (2, 0.7, ["infiltrate", "infiltrates", "infiltration", "interstitial markings"]),
    "atelectasis": (2, 0.7, ["atelectasis", "atelectatic", "collapse", "volume loss"]),
    "pneumonia": (3, 0.9, ["pneumonia", "pneumonic", "infection", "infectious process"]),
}
LOCATIONS = {
    "lung": ["lung", "lungs", "pulmonary", "pulmonic"],
    "lobe": ["lobe", "lobar"],
    "left": ["left", "left-sided", "left side"],
    "right": ["right", "right-sided", "right side"],
    "upper": ["upper", "superior", "apex", "apical", "apices"],
    "lower": ["lower", "inferior", "base", "basal", "basilar"],
    "middle": ["middle", "mid", "central", "lingula", "lingular"],
    "bilateral": ["bilateral", "both", "bibasilar", "bilaterally"],
    "unilateral": ["unilateral", "one side", "single"],
    "heart": ["heart", "cardiac", "cardiovascular", "pericardium"],
    "mediastinum": ["mediastinum", "mediastinal", "hilar", "hilum"],
    "pleura": ["pleura", "pleural", "pleural space"],
    "chest": ["chest", "thorax", "thoracic", "hemithorax"],
    "diaphragm": ["diaphragm", "diaphragmatic", "hemidiaphragm"],
    "costophrenic": ["costophrenic", "cp angle", "costophrenic angle"],
}
SEVERITY = [("mild", 0.3), ("minimal", 0.2), ("slight", 0.2), ("moderate", 0.6), ("marked", 0.8),
            ("severe", 1.0), ("extensive", 0.9), ("large", 0.8), ("small", 0.3), ("tiny", 0.1),
            ("trace", 0.1), ("prominent", 0.7), ("significant", 0.8)]  # fmt: skip
UNCERTAINTY = [("possible", 0.3), ("probable", 0.7), ("likely", 0.7), ("unlikely", 0.2),
               ("questionable", 0.3), ("suspected", 0.6), ("concerning for", 0.7), ("suggestive of", 0.6),
               ("may represent", 0.5), ("cannot exclude", 0.4), ("differential includes", 0.5)]  # fmt: skip
TEMPORAL = {
    "new": ["new", "newly", "recent", "acute"],
    "old": ["old", "chronic", "longstanding", "prior"],
    "unchanged": ["unchanged", "stable", "no change", "similar"],
    "improved": ["improved", "improving", "decreased", "resolving"],
    "worsened": ["worsened", "worsening", "increased", "progressed"],
}
NEGATION = ["no", "not", "without", "absent", "negative", "denied", "none", "free of", "rule out",
            "ruled out", "no evidence", "no signs"]  # fmt: skip
SECTIONS = ["findings", "impression", "comparison", "technique", "recommendation"]
SIZE_PATTERN = r"(\d+\.?\d*)\s*(cm|mm|millimeter|centimeter)"
KEYS = ["overall", "entity_matching", "location_accuracy", "negation_handling", "temporal_accuracy",
        "measurement_accuracy", "clinical_significance", "structure_completeness", "severity_correlation"]  # fmt: skip


def word_matches(term, text):
    return list(re.finditer(r"\b" + re.escape(term) + r"\b", text))


def extract_entities(text):
    lower = text.lower()
    entities = {}
    for name, (base, weight, terms) in ENTITIES.items():
        mentions = []
        for term in terms:
            for m in word_matches(term, lower):
                context = lower[max(0, m.start() - 50) : min(len(lower), m.end() + 50)]
                severity = base
                for word, factor in SEVERITY:
                    if word in context:
                        severity = base * factor
                        break
                uncertainty = 0.0
                for word, confidence in UNCERTAINTY:
                    if word in context:
                        uncertainty = 1.0 - confidence
                        break
                size_match = re.search(SIZE_PATTERN, context)
                mentions.append({"term": term, "start": m.start(), "severity": severity, "uncertainty": uncertainty,
                                 "size": size_match.group(0) if size_match else None, "weight": weight})  # fmt: skip
        if mentions:
            entities[name] = mentions
    return entities


def groups_present(text, vocabulary):
    lower = text.lower()
    return {
        group for group, terms in vocabulary.items() if any(word_matches(t, lower) for t in terms)
    }


def negated(text, position):
    window = text.lower()[max(0, position - 50) : position]
    return any(re.search(r"\b" + re.escape(cue) + r"\b", window) for cue in NEGATION)


def size_similarity(a, b):
    na, nb = re.findall(r"(\d+\.?\d*)", a), re.findall(r"(\d+\.?\d*)", b)
    if not na or not nb:
        return 0.0
    try:
        x, y = float(na[0]), float(nb[0])
    except ValueError:
        return 0.0
    if x == 0 and y == 0:
        return 1.0
    d = abs(x - y) / max(abs(x), abs(y))
    return 1.0 if d < 0.1 else 0.8 if d < 0.2 else 0.5 if d < 0.5 else 0.2


def shared_types(eg, er):
    return [t for t in ENTITIES if t in eg and t in er]


def score_pair(generated, reference):
    eg, er = extract_entities(generated), extract_entities(reference)
    lg, lr = groups_present(generated, LOCATIONS), groups_present(reference, LOCATIONS)
    tg, tr = groups_present(generated, TEMPORAL), groups_present(reference, TEMPORAL)

    if not er:
        entity = 1.0 if not eg else 0.0
    else:
        total = wsum = 0.0
        for t, rms in er.items():
            for r in rms:
                if t in eg:
                    best = 0.0
                    for g in eg[t]:
                        s = 0.0
                        if negated(reference, r["start"]) == negated(generated, g["start"]):
                            s += 0.4
                        s += 0.3 * max(0, 1 - abs(r["severity"] - g["severity"]) / 4.0)
                        s += 0.2 * max(0, 1 - abs(r["uncertainty"] - g["uncertainty"]))
                        if r["size"] and g["size"]:
                            s += 0.1 * size_similarity(r["size"], g["size"])
                        elif not r["size"] and not g["size"]:
                            s += 0.1
                        best = max(best, s)
                    total += best * r["weight"]
                wsum += r["weight"]
        entity = total / wsum

    location = (1.0 if not lg else 0.0) if not lr else len(lg & lr) / len(lg | lr)

    ntotal, ncount = 0.0, 0
    for t in shared_types(eg, er):
        for r in er[t]:
            best = 0.0
            for g in eg[t]:
                s = 0.0
                if negated(reference, r["start"]) == negated(generated, g["start"]):
                    s += 0.6
                s += 0.4 * max(0, 1 - abs(r["uncertainty"] - g["uncertainty"]) * 2)
                best = max(best, s)
            ntotal += best
            ncount += 1
    negation = ntotal / ncount if ncount else 1.0

    if not tr:
        temporal = 1.0 if not tg else 0.5
    else:
        assoc = 0.8 if (tg and eg and tr and er) else 0.5
        temporal = float(len(tr & tg)) / len(tr) * 0.5 + assoc * 0.5

    mtotal, mcount = 0.0, 0
    for t, rms in er.items():
        if t in eg:
            for r in rms:
                if r["size"]:
                    best = 0.0
                    for g in eg[t]:
                        if g["size"]:
                            best = max(best, size_similarity(r["size"], g["size"]))
                    mtotal += best
                    mcount += 1
    measurement = mtotal / mcount if mcount else 1.0

    num = den = 0.0
    for t, rms in er.items():
        for r in rms:
            w = ENTITIES[t][1] * (1 + r["severity"] / 4.0)
            if t in eg and any(g["term"] == r["term"] for g in eg[t]):
                num += w
            den += w
    significance = num / den if den > 0 else 0.0

    gl, rl = generated.lower(), reference.lower()
    in_ref = [s for s in SECTIONS if s in rl]
    section = float(sum(1 for s in in_ref if s in gl)) / len(in_ref) if in_ref else 1.0
    ratio = len(generated) / len(reference) if len(reference) > 0 else 0
    length = min(1.0, ratio) if ratio < 2.0 else max(0, 2.0 - ratio)
    structure = section * 0.7 + length * 0.3

    ref_sev, gen_sev = [], []
    for t in shared_types(eg, er):
        for r in er[t]:
            for g in eg[t]:
                if g["term"] == r["term"]:
                    ref_sev.append(r["severity"])
                    gen_sev.append(g["severity"])
                    break
    if not ref_sev:
        correlation = 0.0
    else:
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho = np.corrcoef(ref_sev, gen_sev)[0, 1]
        correlation = 0.5 if np.isnan(rho) else (rho + 1) / 2

    overall = (0.30 * entity + 0.20 * location + 0.15 * negation + 0.10 * temporal + 0.10 * measurement
               + 0.10 * significance + 0.05 * structure)  # fmt: skip
    return {
        "overall": overall, "entity_matching": entity, "location_accuracy": location,
        "negation_handling": negation, "temporal_accuracy": temporal, "measurement_accuracy": measurement,
        "clinical_significance": significance, "structure_completeness": structure,
        "severity_correlation": float(correlation),
        "entity_details": {
            "total_ref_entities": sum(len(v) for v in er.values()),
            "total_gen_entities": sum(len(v) for v in eg.values()),
            "matched_entity_types": len(shared_types(eg, er)),
            "missed_entity_types": [t for t in er if t not in eg],
            "extra_entity_types": [t for t in eg if t not in er],
        },
    }  # fmt: skip


def score_corpus(predictions, references):
    values = {k: [] for k in KEYS}
    details = []
    for p, r in zip(predictions, references):
        scores = score_pair(p, r)
        for k in KEYS:
            values[k].append(scores[k])
        details.append(scores["entity_details"])
    out = {}
    for k, v in values.items():
        out[f"{k}_mean"] = float(np.mean(v)) if v else 0.0
        out[f"{k}_std"] = float(np.std(v)) if v else 0.0
        out[f"{k}_min"] = float(np.min(v)) if v else 0.0
        out[f"{k}_max"] = float(np.max(v)) if v else 0.0
    if details:
        out["avg_ref_entities"] = float(np.mean([d["total_ref_entities"] for d in details]))
        out["avg_gen_entities"] = float(np.mean([d["total_gen_entities"] for d in details]))
        out["avg_matched_types"] = float(np.mean([d["matched_entity_types"] for d in details]))
        missed = Counter(t for d in details for t in d["missed_entity_types"])
        if missed:
            out["most_missed_entities"] = dict(missed.most_common(5))
    return out


def bleu(predictions, references, n_gram=4):
    def ngrams(text, n):
        tokens = text.lower().split()
        return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    p_len = sum(len(p.split()) for p in predictions)
    r_len = sum(len(r.split()) for r in references)
    bp = 1.0 if p_len > r_len else 0.0 if p_len == 0 else math.exp(1 - r_len / p_len)
    logs = []
    for n in range(1, min(n_gram + 1, 5)):
        per_sample = []
        for p, r in zip(predictions, references):
            pn, rn = ngrams(p, n), ngrams(r, n)
            per_sample.append(sum((pn & rn).values()) / sum(pn.values()) if pn else 0.0)
        mean = np.mean(per_sample) if per_sample else 0.0
        if mean <= 0:
            return 0.0
        logs.append(math.log(mean))
    return bp * math.exp(sum(logs) / len(logs)) if logs else 0.0


CE_TERMS = {
    "critical": ["emergency", "urgent", "critical", "acute", "severe"],
    "abnormal": ["abnormal", "abnormality", "pathology", "disease", "disorder"],
    "normal": ["normal", "unremarkable", "clear", "no acute", "negative"],
    "uncertain": ["possible", "probable", "suspicious", "concerning", "question"],
}


def ce_category(text):
    lower = text.lower()
    for category, terms in CE_TERMS.items():
        for term in terms:
            if term in lower:
                position = lower.find(term)
                window = lower[max(0, position - 20) : position]
                if not any(cue in window for cue in ["no ", "not ", "without"]):
                    return category
    return "normal"


def clinical_efficacy(predictions, references):
    total = 0
    for p, r in zip(predictions, references):
        a, b = ce_category(p), ce_category(r)
        if a == b:
            total += 1
        elif a in ("critical", "abnormal") and b in ("critical", "abnormal"):
            total += 0.5
    return total / len(predictions) if predictions else 0.0
