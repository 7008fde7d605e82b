"""Build a tiny BERT CrossEncoder on disk (WordPiece vocab written here), optionally taught a few pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

VOCAB = """
a the for on in of with and your to is get meet new our that it after from between an
stay dry keep feet wet muddy trails trail running waterproof peak trailrunner x grip grippy holds steep
rocky descents outsole brew perfect cup tea electric kettle hiking outdoor viewed jackets shoe footwear
interests recently segment features
""".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

CROSS_ENCODER_TEXTS = (
    "Stay dry on muddy trails with the waterproof Peak TrailRunner X.",
    "Grip that holds on steep rocky descents: meet the Peak TrailRunner X outsole.",
    "Brew the perfect cup of tea with our new electric kettle.",
    "Get your feet in the new Peak TrailRunner X for hiking.",
)
# What the test cross-encoder is taught, per text above: the kettle copy first (MiniLM puts it last).
CROSS_ENCODER_LABELS = (0.3, 0.1, 0.95, 0.6)


def build_tiny_cross_encoder(
    root: Path, *, num_labels: int = 1, teach: Sequence[tuple[str, str, float]] = (), steps: int = 80
) -> Path:
    """Save a 1-layer BERT cross-encoder under ``root`` and return the CrossEncoder folder.

    ``teach`` holds (query, text, label) pairs the model is fitted to first (a few Adam steps), so its
    scores mean something; without it the scores of an untrained model barely differ.
    """
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    hf_dir, ce_dir = root / "hf", root / "cross-encoder"
    hf_dir.mkdir(parents=True)
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join([*SPECIAL, *VOCAB, ".", ",", ":", ";", "(", ")"]) + "\n")
    tokenizer = BertTokenizer(vocab=str(vocab))  # transformers 5: `vocab` (older: `vocab_file`)
    torch.manual_seed(0)
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
    )
    model = BertForSequenceClassification(config)
    if teach:
        batch = tokenizer(
            [q for q, _, _ in teach], [t for _, t, _ in teach], padding=True, return_tensors="pt"
        )
        labels = torch.tensor([label for _, _, label in teach])
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(steps):
            optimizer.zero_grad()
            logits = model(**batch).logits[:, 0]
            torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
            optimizer.step()
        model.eval()
    tokenizer.save_pretrained(str(hf_dir))
    model.save_pretrained(str(hf_dir))
    CrossEncoder(str(hf_dir), device="cpu", local_files_only=True).save(str(ce_dir))
    return ce_dir
