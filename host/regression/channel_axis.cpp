#include "regression/channel_axis.hpp"

#include <string>

#include "gpueval/error.hpp"

namespace gpueval::detail {

ChannelMove ChannelMove::of(const RegressionSpec& spec, int rank) {
  ChannelMove m;
  m.rank = rank;
  if (!spec.channel_axis || rank <= 1) { // no channel axis, or a rank-1 batch: one channel
    return m;
  }
  const int a = *spec.channel_axis < 0 ? *spec.channel_axis + rank : *spec.channel_axis;
  GPUEVAL_EXPECTS(a >= 1 && a < rank,
                  "channel_axis " + std::to_string(*spec.channel_axis) +
                      " is not a sample axis of a rank-" + std::to_string(rank) + " batch (1.." +
                      std::to_string(rank - 1) +
                      ", or negative from the end; the batch axis 0 holds samples)");
  m.axis = a == rank - 1 ? -1 : a;
  return m;
}

std::vector<std::int64_t> ChannelMove::to_layout(const std::vector<std::int64_t>& sample) const {
  if (!moves()) {
    return sample;
  }
  std::vector<std::int64_t> out = sample;
  const auto c = static_cast<std::size_t>(axis - 1); // sample axes exclude the batch axis
  out.erase(out.begin() + static_cast<std::ptrdiff_t>(c));
  out.push_back(sample[c]);
  return out;
}

std::vector<std::int64_t> ChannelMove::to_user(const std::vector<std::int64_t>& sample) const {
  if (!moves() || sample.empty()) {
    return sample;
  }
  std::vector<std::int64_t> out(sample.begin(), sample.end() - 1);
  out.insert(out.begin() + (axis - 1), sample.back());
  return out;
}

TensorView ChannelMove::view(const TensorView& v) const {
  if (!moves() || v.rank != rank) {
    return v; // a rank that does not match is refused by validate_batch, unchanged
  }
  TensorView out = v;
  int j = 0;
  for (int i = 0; i < v.rank; ++i) {
    if (i != axis) {
      out.shape[j] = v.shape[i];
      out.strides[j] = v.strides[i];
      ++j;
    }
  }
  out.shape[j] = v.shape[axis];
  out.strides[j] = v.strides[axis];
  return out;
}

TensorView ChannelMove::cover(const TensorView& m, const TensorView& batch) const {
  if (!moves() || m.data == nullptr || m.rank <= axis || batch.rank != rank) {
    return m;
  }
  for (int i = 0; i < m.rank; ++i) {
    if (m.shape[i] != batch.shape[i]) {
      return m; // not a prefix: validate_batch names it
    }
  }
  TensorView full = m;
  full.rank = batch.rank;
  for (int i = m.rank; i < batch.rank; ++i) {
    full.shape[i] = batch.shape[i];
    full.strides[i] = 0; // broadcast: one value for every element it covers
  }
  return view(full);
}

std::uint64_t ChannelMove::to_user_element(std::uint64_t e,
                                           const std::vector<std::int64_t>& layout_sample) const {
  if (!moves() || layout_sample.empty()) {
    return e;
  }
  std::uint64_t per_row = 1;
  for (std::int64_t d : layout_sample) {
    per_row *= static_cast<std::uint64_t>(d);
  }
  if (per_row == 0) {
    return e;
  }
  std::uint64_t rest = e % per_row;
  std::vector<std::uint64_t> index(layout_sample.size());
  for (std::size_t i = layout_sample.size(); i-- > 0;) {
    const auto d = static_cast<std::uint64_t>(layout_sample[i]);
    index[i] = rest % d;
    rest /= d;
  }
  // The layout's last index is the channel's: back to its place among the user's sample axes.
  const std::vector<std::int64_t> user = to_user(layout_sample);
  std::vector<std::uint64_t> user_index(index.begin(), index.end() - 1);
  user_index.insert(user_index.begin() + (axis - 1), index.back());
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < user.size(); ++i) {
    s = s * static_cast<std::uint64_t>(user[i]) + user_index[i];
  }
  return e - e % per_row + s;
}

int ChannelMove::to_layout_axis(int a) const {
  return !moves() || a < axis ? a : a - 1;
}

int ChannelMove::to_user_axis(int a) const {
  return !moves() || a < axis ? a : a + 1;
}

} // namespace gpueval::detail
