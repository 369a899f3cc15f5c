-- name: prefill_histogram
-- version: 2
-- description: Pooled T_LLM_prefill over the scope in equal-width bins from the minimum to the
--   upper_quantile (so a long tail does not squeeze the plot), with the running count and
--   fraction of all valid samples (the report's histogram + CDF plot); n_above counts the
--   samples beyond the last bin. No rows when no sample has a valid prefill.
--   v2: bins per hardware (a hardware column; latencies of two GPUs are never pooled), each
--   example counted once (padding repeats left out unless include_repeats).
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders, '' the root (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: bins INTEGER = 80 -- number of equal-width bins
-- param: upper_quantile DOUBLE = 0.999 -- the last bin ends at this quantile (1 = the maximum)
-- param: include_repeats BOOLEAN = false -- also count padding repeats (an example measured again in the same config run; samples.repeat)
-- returns: hardware, bin, bin_lo, bin_hi, n, cum_n, cum_fraction, n_above
WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset,
        CAST($bins AS INTEGER)         AS bins,
        CAST($include_repeats AS BOOLEAN) AS include_repeats
),

prefill AS (
    SELECT s.hardware, s.T_LLM_prefill AS ms
    FROM samples s, args a
    WHERE s.T_LLM_prefill IS NOT NULL
      AND (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
      AND (a.include_repeats OR NOT s."repeat")
),

bounds AS (
    SELECT
        p.hardware,
        min(p.ms)                                                           AS lo,
        quantile_cont(p.ms, least(greatest($upper_quantile, 0), 1))          AS hi,
        count(*)                                                            AS total,
        greatest(any_value(a.bins), 1)                                      AS bins
    FROM prefill p, args a
    GROUP BY p.hardware
),

-- hi closes the last bin; values above it fall in bin `bins` (n_above); one distinct value
-- puts everything in bin 0
binned AS (
    SELECT
        p.hardware,
        CASE WHEN p.ms > b.hi THEN b.bins
             WHEN b.hi = b.lo THEN 0
             ELSE least(CAST(floor((p.ms - b.lo) / (b.hi - b.lo) * b.bins) AS INTEGER), b.bins - 1)
        END AS bin,
        count(*) AS n
    FROM prefill p
    JOIN bounds b ON b.hardware = p.hardware
    GROUP BY ALL
),

every_bin AS (
    SELECT b.hardware, CAST(i AS INTEGER) AS bin, b.lo, b.hi, b.bins, b.total
    FROM bounds b, range(b.bins) AS r(i)
),

above AS (
    SELECT b.hardware, coalesce(c.n, 0) AS n_above
    FROM bounds b
    LEFT JOIN binned c ON c.hardware = b.hardware AND c.bin = b.bins
)

SELECT
    e.hardware,
    e.bin,
    e.lo + (e.hi - e.lo) * e.bin / e.bins                                 AS bin_lo,
    CASE WHEN e.bin = e.bins - 1 THEN e.hi
         ELSE e.lo + (e.hi - e.lo) * (e.bin + 1) / e.bins END             AS bin_hi,
    coalesce(c.n, 0)                                                      AS n,
    CAST(sum(coalesce(c.n, 0)) OVER (PARTITION BY e.hardware ORDER BY e.bin) AS BIGINT) AS cum_n,
    sum(coalesce(c.n, 0)) OVER (PARTITION BY e.hardware ORDER BY e.bin) / e.total       AS cum_fraction,
    x.n_above
FROM every_bin e
JOIN above x ON x.hardware = e.hardware
LEFT JOIN binned c ON c.hardware = e.hardware AND c.bin = e.bin
ORDER BY e.hardware, e.bin
