#!/usr/bin/env python3
"""Turns an intent-classification set into a replygate help center and question file.

    python3 scripts/intents_to_knowledge.py ../shared/eval/clinc_banking /tmp/clinc_banking

reads DATASET/train.jsonl (in-scope lines only) and writes one article per intent to
OUT/knowledge/en/<intent>.md (title from the intent name, body: the training questions), then
OUT/questions.jsonl from valid.jsonl (expected "en/<intent>") plus id-oos_valid.jsonl and
ood-oos_valid.jsonl (expected "out_of_scope"). Only the train split feeds the articles.
Then: replygate eval --knowledge OUT/knowledge --questions OUT/questions.jsonl
"""
import collections
import json
import os
import re
import sys


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def slug_of(intent):
    return re.sub(r"[^a-z0-9]+", "-", intent.lower()).strip("-")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    dataset, out = sys.argv[1], sys.argv[2]
    by_intent = collections.defaultdict(list)
    for row in lines(os.path.join(dataset, "train.jsonl")):
        if row.get("kind", "in_scope") == "in_scope" and row["label"] != "oos" and row["text"].strip():
            by_intent[row["label"]].append(row["text"])
    if not by_intent:
        sys.exit(f"no in-scope training lines in {dataset}/train.jsonl")
    articles = os.path.join(out, "knowledge", "en")
    os.makedirs(articles, exist_ok=True)
    for intent, examples in sorted(by_intent.items()):
        slug = slug_of(intent)
        title = intent.replace("_", " ").strip().capitalize()
        body = "\n".join(f"- {e}" for e in examples)
        with open(os.path.join(articles, f"{slug}.md"), "w", encoding="utf-8") as f:
            f.write(f"---\ntitle: {json.dumps(title)}\ntags: [{json.dumps(intent)}]\n---\n")
            f.write(f"Questions about {title.lower()}.\n\n## Customers ask\n{body}\n")
    questions = []
    for row in lines(os.path.join(dataset, "valid.jsonl")):
        if not row["text"].strip():
            continue
        slug = slug_of(row["label"])
        questions.append({"text": row["text"], "expected": f"en/{slug}", "locale": "en"})
    for name in ("id-oos_valid.jsonl", "ood-oos_valid.jsonl"):
        for row in lines(os.path.join(dataset, name)):
            if not row["text"].strip():
                continue
            questions.append({"text": row["text"], "expected": "out_of_scope", "locale": "en"})
    with open(os.path.join(out, "questions.jsonl"), "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    print(f"{len(by_intent)} articles in {articles}, {len(questions)} questions in {out}/questions.jsonl")


if __name__ == "__main__":
    main()
