#!/usr/bin/env python3
"""A causal language model's token metrics with gpueval: perplexity, accuracy, top-5 and
calibration over an evaluation set, and loss by token position, streamed batch by batch.

Needs PyTorch and Hugging Face transformers (with accelerate for the Trainer); no weights are
downloaded: the model is a small GPT-2 with a random initialisation, the data synthetic tokens.

    python3 examples/python/language_model.py [--batches 8] [--vocab 5000]

Part 1 is the plain loop: one evaluator, updated with each batch's logits [B, T, V] (read in
place, class_axis=-1) and its next-token labels (padding -100), then compute(). Part 2 is the
same through transformers.Trainer with batch_eval_metrics=True and gpueval's compute_metrics
hook (gpueval.TokenMetrics): the Trainer keeps no logits. Both are checked against
the model's own loss (float32 cross-entropy, token-weighted over the batches).
"""

import argparse
import math

import torch
import transformers

import gpueval


def batches(args, vocab):
    """Token batches from a first-order Markov chain (so a model can learn something), each
    sequence padded at the end to a random length."""
    g = torch.Generator().manual_seed(0)
    step = torch.randint(1, 7, (vocab,), generator=g)
    for _ in range(args.batches):
        ids = torch.empty(args.batch, args.seq, dtype=torch.long)
        ids[:, 0] = torch.randint(0, vocab, (args.batch,), generator=g)
        for t in range(1, args.seq):
            noise = torch.randint(0, vocab, (args.batch,), generator=g)
            follow = torch.rand(args.batch, generator=g) < 0.7
            ids[:, t] = torch.where(follow, (ids[:, t - 1] + step[ids[:, t - 1]]) % vocab, noise)
        lengths = torch.randint(args.seq // 2, args.seq + 1, (args.batch,), generator=g)
        pad = torch.arange(args.seq)[None, :] >= lengths[:, None]
        labels = ids.masked_fill(pad, -100)
        yield ids, labels, (~pad).long()


def make_model(vocab, seq):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=vocab, n_positions=seq, n_embd=64, n_layer=2,
                                     n_head=2)
    return transformers.GPT2LMHeadModel(config).eval()


def plain_loop(args, model, vocab):
    ev = gpueval.Classification("multiclass", num_classes=vocab, scores="logits", class_axis=-1,
                                ignore_index=-100, top_k=5, by_axis=1, device="cpu",
                                metrics=["perplexity", "nll", "accuracy", "top_k_accuracy",
                                         "ece"])
    loss_sum, tokens = 0.0, 0
    with torch.no_grad():
        for ids, labels, attention in batches(args, vocab):
            out = model(input_ids=ids, attention_mask=attention, labels=labels)
            # Position t predicts token t + 1: the model's own loss shifts the same way.
            ev.update(out.logits[:, :-1], labels[:, 1:])
            n = int((labels[:, 1:] != -100).sum())
            loss_sum += float(out.loss) * n
            tokens += n
    r = ev.compute()
    print(f"plain loop: {r.count} tokens ({r.ignored} padding), perplexity {r['perplexity']:.4f}"
          f", accuracy {r['accuracy']:.4f}, top-5 {r['top_k_accuracy']:.4f}, "
          f"ece {r['ece']:.4f}")
    model_ppl = math.exp(loss_sum / tokens)
    print(f"  the model's float32 loss gives perplexity {model_ppl:.4f} "
          f"(relative difference {abs(r['perplexity'] / model_ppl - 1):.1e})")
    assert r.count == tokens and abs(r["perplexity"] / model_ppl - 1) < 1e-4
    by = r.by_axis
    first, last = by["nll"][:8].mean(), by["nll"][-8:][by["count"][-8:] > 0].mean()
    print(f"  nll by position: first 8 {first:.4f}, last 8 {last:.4f} (r.by_axis, "
          "r.plot('by_axis'))")
    return r


class TokenDataset(torch.utils.data.Dataset):
    def __init__(self, args, vocab):
        self.rows = [(i, lab, att) for ids, labels, attention in batches(args, vocab)
                     for i, lab, att in zip(ids, labels, attention)]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, k):
        ids, labels, attention = self.rows[k]
        return {"input_ids": ids, "labels": labels, "attention_mask": attention}


def with_trainer(args, model, vocab, plain):
    metrics = gpueval.TokenMetrics(vocab, top_k=5, device="cpu")
    training = transformers.TrainingArguments(
        output_dir=args.output_dir, per_device_eval_batch_size=args.batch,
        batch_eval_metrics=True, report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=training,
                                   eval_dataset=TokenDataset(args, vocab),
                                   compute_metrics=metrics)
    m = trainer.evaluate()
    print(f"Trainer(batch_eval_metrics=True, compute_metrics=gpueval.TokenMetrics(...)): "
          f"eval_perplexity {m['eval_perplexity']:.4f}, eval_accuracy {m['eval_accuracy']:.4f},"
          f" eval_loss {m['eval_loss']:.4f}")
    assert m["eval_perplexity"] == plain["perplexity"]  # the same tokens, the same bits
    assert m["eval_accuracy"] == plain["accuracy"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--vocab", type=int, default=5000)
    p.add_argument("--output-dir", default="/tmp/gpueval-lm-example")
    args = p.parse_args()
    model = make_model(args.vocab, args.seq)
    plain = plain_loop(args, model, args.vocab)
    with_trainer(args, model, args.vocab, plain)


if __name__ == "__main__":
    main()
