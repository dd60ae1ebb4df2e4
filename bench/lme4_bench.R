# lme4 side of pymer's benchmark suite: one model per run, in a fresh R process.
#
#   Rscript bench/lme4_bench.R SPEC.json
#   Rscript bench/lme4_bench.R --versions
#
# SPEC.json (written by bench/run.py): csv, types (lme4's column types, the
# format of src/pymer/datasets/data/lme4_datasets_types.json), formula, REML,
# family (null for lmer; "binomial", "poisson", "negative.binomial"), nAGQ,
# repeats, budget, slow.
#
# The CSV is read with every factor's levels in lme4's order, exactly as
# pymer.datasets.load() does, so both sides fit identical data.
#
# Prints one "BENCH_JSON {...}" line per event (loaded, fit, done, error).
# Timing: elapsed (wall) and user+system CPU time of this process (proc.time)
# around the whole lmer()/glmer() call; the first fit is a warm-up. A warm-up
# under 1 s is followed by a second, untimed fit that tells a fit's time (the
# warm-up pays one-time costs), as bench/_worker.py does. When a fit takes less
# than 0.2 s, each timed sample is the mean of `inner` consecutive fits
# (>= ~0.25 s in all): proc.time() ticks in milliseconds. Memory: peak resident set size of this R process (VmHWM from
# /proc/self/status, what /usr/bin/time -v calls "Maximum resident set size")
# right after the first fit, and VmRSS after loading the data; gc()'s
# "max used" (R heap only: not CHOLMOD's malloc) is reported as well.

suppressPackageStartupMessages({
  library(jsonlite)
  library(lme4)
})

emit <- function(...) {
  cat("BENCH_JSON ", toJSON(list(...), auto_unbox = TRUE, digits = NA, null = "null"), "\n",
      sep = "")
  flush(stdout())
}

proc_status_mb <- function(key) {
  s <- readLines("/proc/self/status")
  line <- s[startsWith(s, paste0(key, ":"))]
  as.numeric(strsplit(trimws(sub(paste0(key, ":"), "", line)), "\\s+")[[1]][1]) / 1024
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) >= 1 && args[1] == "--versions") {
  si <- sessionInfo()
  emit(event = "versions", R = R.version.string,
       lme4 = as.character(packageVersion("lme4")),
       Matrix = as.character(packageVersion("Matrix")),
       BLAS = if (!is.null(si$BLAS)) si$BLAS else "",
       LAPACK = if (!is.null(si$LAPACK)) si$LAPACK else "")
  quit(save = "no", status = 0)
}

read_typed <- function(csv, types) {
  cols <- types$columns
  cc <- vapply(names(cols), function(nm) {
    t <- cols[[nm]]$type
    if (t %in% c("factor", "ordered")) "character" else if (t == "integer") "integer"
    else if (t == "numeric") "numeric" else if (t == "logical") "character" else NA_character_
  }, "")
  d <- read.csv(csv, colClasses = cc, na.strings = "NA", check.names = FALSE,
                stringsAsFactors = FALSE)
  for (nm in names(cols)) {
    t <- cols[[nm]]
    if (t$type %in% c("factor", "ordered")) {
      f <- factor(d[[nm]], levels = unlist(t$levels), ordered = (t$type == "ordered"))
      if (any(is.na(f) & !is.na(d[[nm]]))) stop("values outside the levels in column ", nm)
      d[[nm]] <- f
    } else if (t$type == "logical") {
      d[[nm]] <- d[[nm]] == "TRUE"
    }
  }
  d
}

fit_model <- function(spec, d) {
  f <- as.formula(spec$formula)
  fam <- spec$family
  if (is.null(fam)) {
    lmer(f, data = d, REML = isTRUE(spec$REML))
  } else if (fam == "negative.binomial") {
    glmer.nb(f, data = d)
  } else {
    glmer(f, data = d, family = get(fam, mode = "function")(),
          nAGQ = if (is.null(spec$nAGQ)) 1L else as.integer(spec$nAGQ))
  }
}

fit_info <- function(fit) {
  msgs <- c(fit@optinfo$conv$lme4$messages, fit@optinfo$message)
  list(objective = -2 * as.numeric(logLik(fit)),   # REMLcrit for REML fits, else -2 logLik
       nevals = fit@optinfo$feval,
       theta = unname(getME(fit, "theta")),
       ngrps = as.list(ngrps(fit)),
       nobs = nobs(fit),
       optimizer = fit@optinfo$optimizer,
       messages = as.list(unname(c(fit@optinfo$conv$lme4$messages))))
}

main <- function(path) {
  spec <- fromJSON(path, simplifyVector = FALSE)
  t0 <- proc.time()[["elapsed"]]
  d <- read_typed(spec$csv, spec$types)
  emit(event = "loaded", seconds = proc.time()[["elapsed"]] - t0,
       rss_mb = proc_status_mb("VmRSS"), nrow = nrow(d))
  invisible(gc(reset = TRUE))
  repeats <- as.integer(spec$repeats)
  budget <- as.numeric(spec$budget)
  slow <- as.numeric(spec$slow)
  times <- numeric(0)
  i <- 0L
  inner <- 1L   # fits per timed sample: short fits are timed in batches of >= ~0.2 s
  calibrate_below <- 1.0   # a warm-up faster than this (s) is followed by an untimed fit
  while (i <= repeats) {
    ws <- character(0)
    t <- proc.time()
    for (k in seq_len(inner)) {
      fit <- withCallingHandlers(fit_model(spec, d), warning = function(w) {
        ws <<- c(ws, conditionMessage(w))
        invokeRestart("muffleWarning")
      })
    }
    pt <- proc.time() - t
    dt <- pt[["elapsed"]] / inner
    dc <- (pt[["user.self"]] + pt[["sys.self"]]) / inner
    if (i == 0L) {
      g <- gc()
      info <- fit_info(fit)
      do.call(emit, c(list(event = "fit", i = i, seconds = dt, cpu = dc, warmup = TRUE,
                           peak_mb = proc_status_mb("VmHWM"),
                           gc_max_used_mb = sum(g[, ncol(g)]),
                           warnings = as.list(unique(ws))), info))
      first <- dt
      if (first > slow) break
      repeats <- min(repeats, max(1L, as.integer(floor(budget / max(first, 1e-9)))))
      if (first < calibrate_below) {
        # the warm-up pays one-time costs: a second, untimed fit tells a fit's time
        t <- proc.time()[["elapsed"]]
        fit <- suppressWarnings(fit_model(spec, d))
        first <- proc.time()[["elapsed"]] - t
      }
      if (first < 0.2) inner <- as.integer(min(200, ceiling(0.25 / max(first, 1e-4))))
    } else {
      times <- c(times, dt)
      emit(event = "fit", i = i, seconds = dt, cpu = dc, warmup = FALSE, inner = inner)
    }
    rm(fit)
    i <- i + 1L
  }
  emit(event = "done", timed = length(times))
}

tryCatch(main(args[1]), error = function(e) {
  emit(event = "error", message = conditionMessage(e))
})
