-- name: prefill_histogram
-- version: 1
-- description: Pooled T_LLM_prefill over the scope in equal-width bins from the minimum to the
--   upper_quantile (so a long tail does not squeeze the plot), with the running count and
--   fraction of all valid samples (the report's histogram + CDF plot); n_above counts the
--   samples beyond the last bin. No rows when no sample has a valid prefill.
-- param: hardware VARCHAR[] = NULL -- only these hardware roots, e.g. h100 (NULL = all)
-- param: experiment VARCHAR[] = NULL -- only these experiment folders (NULL = all)
-- param: dataset VARCHAR[] = NULL -- only these datasets, e.g. text-vqa,okvqa (NULL = all)
-- param: bins INTEGER = 80 -- number of equal-width bins
-- param: upper_quantile DOUBLE = 0.999 -- the last bin ends at this quantile (1 = the maximum)
-- returns: bin, bin_lo, bin_hi, n, cum_n, cum_fraction, n_above
WITH args AS (
    SELECT
        CAST($hardware AS VARCHAR[])   AS hardware,
        CAST($experiment AS VARCHAR[]) AS experiment,
        CAST($dataset AS VARCHAR[])    AS dataset,
        CAST($bins AS INTEGER)         AS bins
),

prefill AS (
    SELECT s.T_LLM_prefill AS ms
    FROM samples s, args a
    WHERE s.T_LLM_prefill IS NOT NULL
      AND (a.hardware IS NULL OR list_contains(a.hardware, s.hardware))
      AND (a.experiment IS NULL OR list_contains(a.experiment, s.experiment))
      AND (a.dataset IS NULL OR list_contains(a.dataset, s.dataset))
),

bounds AS (
    SELECT
        min(p.ms)                                                           AS lo,
        quantile_cont(p.ms, least(greatest($upper_quantile, 0), 1))          AS hi,
        count(*)                                                            AS total,
        greatest(any_value(a.bins), 1)                                      AS bins
    FROM prefill p, args a
    HAVING count(*) > 0
),

-- hi closes the last bin; values above it fall in bin `bins` (n_above); one distinct value
-- puts everything in bin 0
binned AS (
    SELECT
        CASE WHEN p.ms > b.hi THEN b.bins
             WHEN b.hi = b.lo THEN 0
             ELSE least(CAST(floor((p.ms - b.lo) / (b.hi - b.lo) * b.bins) AS INTEGER), b.bins - 1)
        END AS bin,
        count(*) AS n
    FROM prefill p, bounds b
    GROUP BY ALL
),

every_bin AS (
    SELECT CAST(i AS INTEGER) AS bin, b.lo, b.hi, b.bins, b.total
    FROM bounds b, range(b.bins) AS r(i)
)

SELECT
    e.bin,
    e.lo + (e.hi - e.lo) * e.bin / e.bins                                 AS bin_lo,
    CASE WHEN e.bin = e.bins - 1 THEN e.hi
         ELSE e.lo + (e.hi - e.lo) * (e.bin + 1) / e.bins END             AS bin_hi,
    coalesce(c.n, 0)                                                      AS n,
    CAST(sum(coalesce(c.n, 0)) OVER (ORDER BY e.bin) AS BIGINT)           AS cum_n,
    sum(coalesce(c.n, 0)) OVER (ORDER BY e.bin) / e.total                 AS cum_fraction,
    coalesce((SELECT n FROM binned WHERE bin = e.bins), 0)                AS n_above
FROM every_bin e
LEFT JOIN binned c ON c.bin = e.bin
ORDER BY e.bin
