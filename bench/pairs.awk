# Summary of alternating pairs (bench/run). Each line: rate_without rate_with [cpu_without cpu_with]
# (for (a): Basic, Bearer req/s and the server's CPU µs per request of each; for (s): PUT/s
# without and with sinks and the server's CPU µs per PUT of each).
#
#   kind=overhead: per pair 100 × (with ÷ without − 1) of the rates (Bearer over Basic), and
#                  100 × (cpu_without ÷ cpu_with − 1) (Basic's CPU over Bearer's)
#   kind=ratio:    per pair 100 × with ÷ without of the rates, and 100 × (cpu_with ÷ cpu_without − 1)
#   kind=difference: per pair (with − without) ÷ 1000, e.g. two p99s in µs giving ms (two places)
#
# Prints: mean min max ci95 cpu_mean cpu_ci95 median median_lo median_hi, where ci95 is the
# half-width of the 95 % confidence interval of the mean (Student's t with n − 1 degrees of
# freedom; "—" for one pair), and median_lo..median_hi the distribution-free interval of the
# median of at least 95 % (the sign test's order statistics: x(k)..x(n+1−k) for the largest k
# with 2·P(Bin(n, ½) < k) ≤ 5 %; "—" below 6 pairs, where no such interval exists). The median's
# interval is for figures with heavy tails, such as one run's p99: one 20 ms p99 among 4 ms ones
# moves a mean and its interval by more than the effect being measured, a median not.
BEGIN { f = kind == "difference" ? "%.2f" : "%.1f" }
function t95(df) {
  # Two-sided 95 % quantiles of Student's t; beyond 30 degrees of freedom, 2.0 is close enough.
  split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13 2.12 2.11 2.10 2.09 2.09 2.08 2.07 2.07 2.06 2.06 2.06 2.05 2.05 2.05 2.04", t, " ")
  return df <= 30 ? t[df] : 2.0
}
function ci(sum, sq, n,   var) {
  if (n < 2) return "—"
  var = (sq - sum * sum / n) / (n - 1)
  return sprintf(f, t95(n - 1) * sqrt(var > 0 ? var : 0) / sqrt(n))
}
NF >= 2 && $1 > 0 {
  r = kind == "overhead" ? 100 * ($2 / $1 - 1) : kind == "difference" ? ($2 - $1) / 1000 : 100 * $2 / $1
  sum += r; sq += r * r; n++
  v[n] = r
  if (NF == 4 && $3 > 0 && $4 > 0) {
    c = kind == "overhead" ? 100 * ($3 / $4 - 1) : 100 * ($4 / $3 - 1)
    csum += c; csq += c * c; cn++
  }
}
# The lower index k of the median's interval (0: none at 95 %): P(Bin(n, ½) ≤ k − 1) summed
# term by term until the two tails together would pass 5 %.
function sign_k(n,   k, term, tail) {
  term = 0.5 ^ n; tail = term; k = 0
  while (2 * tail <= 0.05) {
    k++
    term = term * (n - k + 1) / k
    tail += term
  }
  return k
}
END {
  if (n == 0) { print "— — — — — — — — —"; exit }
  for (i = 2; i <= n; i++) { # insertion sort: n is a few dozen at most
    x = v[i]
    for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]
    v[j + 1] = x
  }
  med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  k = sign_k(n)
  printf f " " f " " f " %s %s %s " f " %s %s\n", sum / n, v[1], v[n], ci(sum, sq, n),
    (cn ? sprintf("%.1f", csum / cn) : "—"), ci(csum, csq, cn), med,
    (k ? sprintf(f, v[k]) : "—"), (k ? sprintf(f, v[n + 1 - k]) : "—")
}
