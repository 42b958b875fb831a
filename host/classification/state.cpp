// What a classification state holds beyond the envelope: its fields (task, classes, inputs,
// options, histograms) and the record's words, written and read back; the spec it was made with.
#include "classification/internal.hpp"

#include <algorithm>
#include <string>

#include "core/state_blob.hpp"
#include "gpueval/error.hpp"

namespace gpueval {

using namespace classification; // the family's internal functions (internal.hpp)

namespace classification {

bool sparse_record(const std::vector<std::uint64_t>& words) {
  const auto nonzero = static_cast<std::size_t>(
      std::count_if(words.begin(), words.end(), [](std::uint64_t w) { return w != 0; }));
  return 3 * nonzero < words.size();
}

ClassStateFields fields_of(const detail::ClassBackend& b) {
  ClassStateFields f;
  f.task = b.spec.task;
  f.scores = b.pred_scores;
  f.logits = b.spec.scores == ScoreKind::logits;
  f.classes = b.layout.classes;
  f.threshold = b.spec.threshold;
  f.top_k = b.spec.top_k;
  f.has_ignore = b.spec.ignore_index.has_value();
  f.ignore_index = b.spec.ignore_index.value_or(0);
  f.bins = b.spec.bins;
  f.class_axis = b.spec.class_axis;
  f.hist = b.params.hist;
  f.invalid = b.spec.invalid;
  f.weighted = b.layout.weighted;
  f.per_sample = b.layout.per_sample;
  f.confusion = b.layout.marginals < 0;
  f.sample_beta = b.spec.beta;
  f.by_axis = b.layout.positions > 0 ? axis_breakdown(b.spec, b.sample_shape).axis : -1;
  return f;
}

std::vector<std::uint8_t> encode_fields(const ClassStateFields& f) {
  std::vector<std::uint8_t> out;
  detail::StateWriter w(out);
  w.u8(static_cast<std::uint8_t>(f.task));
  w.u8(f.scores ? 1 : 0);
  w.u8(f.logits ? 1 : 0);
  w.u8(f.has_ignore ? 1 : 0);
  w.u32(static_cast<std::uint32_t>(f.class_axis));
  w.u64(static_cast<std::uint64_t>(f.classes));
  w.f64(f.threshold);
  w.u64(static_cast<std::uint64_t>(f.ignore_index));
  w.u32(static_cast<std::uint32_t>(f.top_k));
  w.u32(static_cast<std::uint32_t>(f.bins));
  w.u8(f.hist.on ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(f.hist.format));
  w.u8(static_cast<std::uint8_t>(f.hist.bits));
  // The invalid policy: 0 in states made before it existed (they skipped), then 1 + the policy.
  w.u8(static_cast<std::uint8_t>(1 + static_cast<int>(f.invalid)));
  w.u64(static_cast<std::uint64_t>(f.hist.classes));
  // Options of later versions, as flags (bit 0 weighted, bit 1 per-sample sums and their beta,
  // bit 2 one-vs-one histograms, bit 3 per-class counts for the confusion matrix, bit 4 a
  // breakdown axis and its index, bit 5 the histograms' shared keys after their counts, bit 6
  // the record as (index, word) pairs of its nonzero words):
  // states without them keep the layout they always had.
  const std::uint8_t flags = (f.weighted ? 1 : 0) | (f.per_sample ? 2 : 0) |
                             (f.hist.on && f.hist.per_target ? 4 : 0) | (f.confusion ? 0 : 8) |
                             (f.by_axis >= 0 ? 16 : 0) | (f.hist.keyed() ? 32 : 0) |
                             (f.sparse_record ? 64 : 0);
  if (flags != 0) {
    w.u8(flags);
    if (f.per_sample) {
      w.f64(f.sample_beta);
    }
    if (f.by_axis >= 0) {
      w.u32(static_cast<std::uint32_t>(f.by_axis));
    }
  }
  return out;
}

namespace {

// A record's statistics as (offset, words, is a count) runs, in a fixed order: what
// convert_record matches between layouts.
struct Run {
  std::int64_t at, words;
  bool count;
};
std::vector<Run> runs_of(const ops::ClassLayout& l) {
  std::vector<Run> r;
  r.push_back({0, 4, true});
  if (l.task == ClassTask::multilabel) {
    r.push_back({l.tp, 4 * l.classes, true});
    r.push_back({l.subset_right, 2, true});
  } else if (l.confusion >= 0) {
    r.push_back({l.confusion, l.classes * l.classes, true});
  } else {
    r.push_back({l.marginals, 3 * l.classes, true});
  }
  r.push_back({l.sample_undefined, l.per_sample ? 3 : 0, true});
  r.push_back({l.topk_hits, l.top_k ? 1 : 0, true});
  r.push_back({l.calib_count, 2 * l.bins, true});
  r.push_back({l.log_loss, l.scores ? 4 : 0, false});
  r.push_back({l.calib_conf, 2 * l.bins, false});
  r.push_back({l.sample_sums, l.per_sample ? 10 : 0, false});
  r.push_back({l.class_distance, l.marginals >= 0 ? 4 : 0, false});
  r.push_back({l.axis_counts, l.axis_count_runs() * l.positions, true});
  r.push_back({l.axis_sums, l.axis_sums >= 0 ? 4 * l.positions : 0, false});
  return r;
}

} // namespace

std::vector<std::uint64_t> convert_record(const std::vector<std::uint64_t>& from,
                                          const ops::ClassLayout& lf, const ops::ClassLayout& lt) {
  std::vector<std::uint64_t> out(static_cast<std::size_t>(lt.words), 0);
  const std::vector<Run> a = runs_of(lf), b = runs_of(lt);
  for (std::size_t k = 0; k < b.size(); ++k) {
    if (a[k].words == 0 || b[k].words == 0) {
      continue; // a statistic one side lacks
    }
    for (std::int64_t i = 0; i < b[k].words; ++i) {
      const auto src = static_cast<std::size_t>(a[k].at + i);
      const auto dst = static_cast<std::size_t>(b[k].at + i);
      out[dst] = from[src];
      if (b[k].count && lt.weighted) {
        const auto w = static_cast<std::size_t>(lt.weight_of(b[k].at + i));
        if (lf.weighted) {
          const auto v = static_cast<std::size_t>(lf.weight_of(a[k].at + i));
          out[w] = from[v];
          out[w + 1] = from[v + 1];
        } else { // each sample weighs 1: the weight sum is the count
          out[w] = 0;
          out[w + 1] = from[src];
        }
      }
    }
  }
  return out;
}

// a + b, both sorted by index.
Sparse add_sparse(const Sparse& a, const Sparse& b) {
  Sparse out;
  out.reserve(a.size() + b.size());
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].first < b[j].first)) {
      out.push_back(a[i++]);
    } else if (i == a.size() || b[j].first < a[i].first) {
      out.push_back(b[j++]);
    } else {
      out.emplace_back(a[i].first, a[i].second + b[j].second);
      ++i;
      ++j;
    }
  }
  return out;
}

Sparse add_weight_sums(const Sparse& a, const Sparse& b) {
  // Both as (bin, lo, hi), added with carry, then back to their nonzero words.
  Sparse out;
  out.reserve(a.size() + b.size());
  std::size_t i = 0, j = 0;
  const auto next_bin = [](const Sparse& v, std::size_t& k, std::uint64_t bin,
                           std::uint64_t* words) {
    for (; k < v.size() && v[k].first / 2 == bin; ++k) {
      words[v[k].first % 2] = v[k].second;
    }
  };
  while (i < a.size() || j < b.size()) {
    const std::uint64_t ba = i < a.size() ? a[i].first / 2 : ~std::uint64_t{0};
    const std::uint64_t bb = j < b.size() ? b[j].first / 2 : ~std::uint64_t{0};
    const std::uint64_t bin = std::min(ba, bb);
    std::uint64_t x[2] = {0, 0}, y[2] = {0, 0};
    next_bin(a, i, bin, x);
    next_bin(b, j, bin, y);
    ops::add_fixed(x, y[0], y[1]);
    for (int k = 0; k < 2; ++k) {
      if (x[k] != 0) {
        out.emplace_back(2 * bin + static_cast<std::uint64_t>(k), x[k]);
      }
    }
  }
  return out;
}

Keys merge_keys(const Sparse& sum, std::uint64_t per_bin, const Sparse& a, const Keys& ka,
                const Sparse& b, const Keys& kb) {
  Keys out;
  out.reserve(sum.size());
  std::size_t i = 0, j = 0;
  for (const auto& word : sum) {
    const std::uint64_t bin = word.first / per_bin;
    while (i < a.size() && a[i].first / per_bin < bin) {
      ++i;
    }
    while (j < b.size() && b[j].first / per_bin < bin) {
      ++j;
    }
    const std::uint32_t x = i < a.size() && a[i].first / per_bin == bin ? ka[i] : 0;
    const std::uint32_t y = j < b.size() && b[j].first / per_bin == bin ? kb[j] : 0;
    out.push_back(ops::merge_key(x, y));
  }
  return out;
}

Sparse widen_histogram(const Sparse& counts) {
  Sparse out;
  out.reserve(counts.size());
  for (const auto& [index, n] : counts) {
    out.emplace_back(2 * index + 1, n); // a whole weight sum: hi = the count, lo = 0
  }
  return out;
}

DecodedClassState decode_class_state(const State& state) {
  const detail::OpenedState o = detail::open_state(state);
  detail::expect_family(o.header, kClassificationFamily, "classification");
  DecodedClassState d;
  d.header = o.header;
  detail::StateReader r(o.header.extra.data(), o.header.extra.size());
  ClassStateFields& f = d.fields;
  const std::uint8_t task = r.u8();
  if (task > 2) {
    throw StateError("state blob has unknown classification task " + std::to_string(task));
  }
  f.task = static_cast<ClassTask>(task);
  f.scores = r.u8() != 0;
  f.logits = r.u8() != 0;
  f.has_ignore = r.u8() != 0;
  f.class_axis = static_cast<std::int32_t>(r.u32());
  f.classes = static_cast<std::int64_t>(r.u64());
  f.threshold = r.f64();
  f.ignore_index = static_cast<std::int64_t>(r.u64());
  f.top_k = static_cast<int>(r.u32());
  f.bins = static_cast<int>(r.u32());
  f.hist.on = r.u8() != 0;
  const std::uint8_t format = r.u8();
  f.hist.bits = r.u8();
  const std::uint8_t invalid = r.u8();
  if (invalid > 2) {
    throw StateError("state blob has unknown invalid policy " + std::to_string(invalid));
  }
  f.invalid = invalid == 1 ? InvalidPolicy::error : InvalidPolicy::skip;
  f.hist.classes = static_cast<std::int64_t>(r.u64());
  if (r.left() > 0) {
    const std::uint8_t flags = r.u8();
    if (flags == 0 || flags > 127) {
      throw StateError("state blob header is inconsistent (classification options " +
                       std::to_string(flags) + ")");
    }
    f.weighted = (flags & 1) != 0;
    f.per_sample = (flags & 2) != 0;
    f.hist.per_target = (flags & 4) != 0;
    f.hist.keys = (flags & 32) != 0;
    f.sparse_record = (flags & 64) != 0;
    f.confusion = (flags & 8) == 0;
    if (f.hist.per_target && !f.hist.on) {
      throw StateError("state blob header is inconsistent (one-vs-one flag without histograms)");
    }
    if (f.per_sample) {
      f.sample_beta = r.f64();
    }
    if ((flags & 16) != 0) {
      const std::uint32_t axis = r.u32();
      if (axis < 1 || axis > d.header.sample_shape.size() || f.task == ClassTask::multilabel) {
        throw StateError("state blob header is inconsistent (by_axis " + std::to_string(axis) +
                         " of sample shape " + shape_of(d.header.sample_shape) + ")");
      }
      f.by_axis = static_cast<int>(axis);
    }
  }
  if (r.left() != 0 || f.classes < 2 || f.classes > kMaxLabels || format > 3) {
    throw StateError("state blob header is inconsistent (classification fields)");
  }
  f.hist.format = static_cast<ops::KeyFormat>(format);
  if (f.hist.on) {
    const int width = ops::key_width(f.hist.format);
    if (f.hist.bits < 1 || f.hist.bits > 24 || f.hist.bits > width ||
        f.hist.classes != (f.task == ClassTask::binary ? 1 : f.classes) ||
        (f.hist.per_target && f.task != ClassTask::multiclass)) {
      throw StateError("state blob header is inconsistent (histograms)");
    }
    f.hist.shift = width - f.hist.bits;
  }
  if (f.hist.keys && (!f.hist.on || f.hist.shift == 0 || f.hist.format != ops::KeyFormat::f32)) {
    throw StateError("state blob header is inconsistent (keys of histograms that keep none)");
  }
  if (f.per_sample && f.task != ClassTask::multilabel) {
    throw StateError("state blob header is inconsistent (per-sample sums of a " +
                     std::string(class_task_name(f.task)) + " task)");
  }
  if (!f.confusion && f.task != ClassTask::multiclass) {
    throw StateError("state blob header is inconsistent (per-class counts of a " +
                     std::string(class_task_name(f.task)) + " task)");
  }
  ClassificationSpec axis_spec;
  if (f.by_axis >= 0) {
    axis_spec.by_axis = f.by_axis;
  }
  const AxisBreakdown by = axis_breakdown(axis_spec, d.header.sample_shape);
  const ops::ClassLayout l =
      ops::ClassLayout::make(f.task, f.classes, f.scores, f.top_k > 0, f.bins, f.weighted,
                             f.per_sample, f.confusion, by.positions, by.step);
  const auto record = f.sparse_record ? std::size_t{8} : static_cast<std::size_t>(l.words) * 8;
  if (o.header.keys != static_cast<std::uint64_t>(l.words) || o.payload_size < record) {
    throw StateError("state blob holds " + std::to_string(o.payload_size) + " bytes for " +
                     std::to_string(l.words) + " words of its record");
  }
  detail::StateReader p(o.payload, o.payload_size);
  d.words.assign(static_cast<std::size_t>(l.words), 0);
  if (f.sparse_record) { // the nonzero words: their number, then (index, word), ascending
    const std::uint64_t n = p.u64();
    if (n > p.left() / 16) {
      throw StateError("state blob is truncated: its record needs " + std::to_string(n) + " words");
    }
    std::uint64_t last = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t index = p.u64(), value = p.u64();
      if (index >= d.words.size() || value == 0 || (i > 0 && index <= last)) {
        throw StateError("state blob's record is inconsistent (word " + std::to_string(index) +
                         ")");
      }
      d.words[static_cast<std::size_t>(index)] = value;
      last = index;
    }
  } else {
    for (std::uint64_t& w : d.words) {
      w = p.u64();
    }
  }
  // Histograms: the number of nonzero counts, then (index, count) pairs, indices ascending.
  if (f.hist.on) {
    const std::uint64_t n = p.u64();
    if (n > p.left() / 16) {
      throw StateError("state blob is truncated: its histograms need " + std::to_string(n) +
                       " counts");
    }
    d.hist.reserve(static_cast<std::size_t>(n));
    // Weighted: two words per bin.
    const auto size = static_cast<std::uint64_t>(f.hist.size()) * (f.weighted ? 2 : 1);
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t index = p.u64(), count = p.u64();
      if (index >= size || count == 0 || (!d.hist.empty() && index <= d.hist.back().first)) {
        throw StateError("state blob's histograms are inconsistent (index " +
                         std::to_string(index) + ")");
      }
      d.hist.emplace_back(index, count);
    }
    // Keyed histograms: the shared key of each word's bin, aligned with the words (a weighted
    // bin's two words carry the same key). Older states kept none: every bin mixed.
    if (f.hist.keyed()) {
      if (n > p.left() / 4) {
        throw StateError("state blob is truncated: its histograms need " + std::to_string(n) +
                         " keys");
      }
      d.keys.resize(static_cast<std::size_t>(n));
      for (std::size_t i = 0; i < d.keys.size(); ++i) {
        d.keys[i] = p.u32();
        const bool same_bin = f.weighted && i > 0 && d.hist[i].first / 2 == d.hist[i - 1].first / 2;
        if (d.keys[i] == 0 || (same_bin && d.keys[i] != d.keys[i - 1])) {
          throw StateError("state blob's histogram keys are inconsistent (word " +
                           std::to_string(d.hist[i].first) + ")");
        }
      }
    }
  }
  if (p.left() != 0) {
    throw StateError("state blob holds " + std::to_string(p.left()) + " bytes after its record");
  }
  return d;
}

} // namespace classification

ClassificationSpec classification_spec_of(const State& state) {
  const DecodedClassState d = decode_class_state(state);
  ClassificationSpec spec;
  spec.task = d.fields.task;
  spec.num_classes = d.fields.classes;
  spec.scores = d.fields.logits ? ScoreKind::logits : ScoreKind::probabilities;
  spec.pred = d.fields.scores ? PredKind::scores : PredKind::labels;
  spec.threshold = d.fields.threshold;
  spec.class_axis = d.fields.class_axis;
  spec.top_k = d.fields.top_k;
  if (d.fields.has_ignore) {
    spec.ignore_index = d.fields.ignore_index;
  }
  spec.bins = d.fields.bins;
  if (spec.task == ClassTask::multiclass) {
    spec.confusion_matrix = d.fields.confusion;
  }
  if (d.fields.per_sample) {
    spec.beta = d.fields.sample_beta;
  }
  if (d.fields.by_axis >= 0) {
    spec.by_axis = d.fields.by_axis;
  }
  spec.nan_policy = d.header.nan_policy;
  spec.invalid = d.fields.invalid;
  spec.sample_shape = d.header.sample_shape;
  const ops::HistLayout& h = d.fields.hist;
  if (h.on) {
    // The histograms the state was made with: its key format, and a budget of its bits.
    spec.score_dtype = dtype_of(h.format);
    spec.histogram_budget = (std::int64_t{8} << h.bits) * h.classes * h.groups();
  }
  return spec;
}

} // namespace gpueval
