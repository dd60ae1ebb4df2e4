# Hard GLMM data for tests/test_glmm_robustness.py: what lme4 does with each case
# (estimates, standard errors, warnings and messages, or its error).
#
# The data are simulated here (fixed seeds) and stored in the JSON next to lme4's
# results, so the Python tests read both from one file and need no R.
#
# usage: Rscript glmm_hard.R OUT.json   (from tests/reference)
suppressMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
out <- if (length(args)) args[1] else "glmm_hard.json"

grp <- function(n, G) factor(rep(sprintf("g%02d", seq_len(G)), each = n / G))

cases <- list()
add <- function(id, what, d, call, note = NULL) {
  cases[[id]] <<- list(id = id, what = what, data = d, call = call, note = note)
}

# complete separation: y = 1 exactly when x > 0
set.seed(101)
n <- 80
g <- grp(n, 8)
x <- round(seq(-2, 2, length.out = n) + rnorm(n, sd = 0.3), 3)
add("separation_complete", "binomial, y = (x > 0): complete separation by x",
    data.frame(y = as.integer(x > 0), x = x, g = g),
    quote(glmer(y ~ x + (1 | g), d, family = binomial)))

# quasi-complete separation: level "c" of f has no successes
b <- rnorm(8, sd = 0.8)[as.integer(g)]
f <- factor(rep(c("a", "b", "c", "d"), length.out = n))
y <- rbinom(n, 1, plogis(-0.3 + 0.8 * x + b))
y[f == "c"] <- 0L
add("separation_quasi", "binomial, every y = 0 in level c of f: quasi-complete separation",
    data.frame(y = y, x = x, f = f, g = g),
    quote(glmer(y ~ x + f + (1 | g), d, family = binomial)))

# very large Poisson counts
set.seed(202)
n <- 60
g <- grp(n, 6)
x <- round(rnorm(n), 3)
b <- rnorm(6, sd = 0.5)[as.integer(g)]
for (s in c(1e6, 1e7, 1e8)) {
  add(sprintf("poisson_large_%s", format(s, scientific = TRUE)),
      sprintf("Poisson counts around %g", s),
      data.frame(y = rpois(n, s * exp(0.1 * x + b)), x = x, g = g),
      quote(glmer(y ~ x + (1 | g), d, family = poisson)))
}

# three groups whose counts are all zero
set.seed(303)
n <- 100
g <- grp(n, 10)
x <- round(rnorm(n), 3)
y <- rpois(n, exp(0.3 + 0.5 * x + rnorm(10)[as.integer(g)]))
y[g %in% c("g02", "g05", "g09")] <- 0L
add("poisson_zero_groups", "Poisson with every count 0 in groups g02, g05, g09",
    data.frame(y = y, x = x, g = g),
    quote(glmer(y ~ x + (1 | g), d, family = poisson)))

# singular fits: a variance at 0, and a correlation at -1
set.seed(1)
n <- 60
g <- grp(n, 6)
x <- round(rnorm(n), 3)
add("singular_intercept", "binomial without group variation: theta = 0",
    data.frame(y = rbinom(n, 1, plogis(0.2 + 0.7 * x)), x = x, g = g),
    quote(glmer(y ~ x + (1 | g), d, family = binomial)))
set.seed(1)
n <- 90
g <- grp(n, 9)
x <- round(rnorm(n), 3)
add("singular_slopes", "Poisson (x | g) with a correlation of -1",
    data.frame(y = rpois(n, exp(0.5 + 0.4 * x + rnorm(9, sd = 0.4)[as.integer(g)])), x = x, g = g),
    quote(glmer(y ~ x + (x | g), d, family = poisson)))

# binomial proportions with numbers of trials as weights, some of them 0
set.seed(505)
n <- 96
g <- grp(n, 12)
x <- round(rnorm(n), 3)
m <- sample(1:12, n, replace = TRUE)
m[c(3, 17, 18, 40, 77)] <- 0L
s <- rbinom(n, m, plogis(-0.4 + 0.6 * x + rnorm(12, sd = 0.7)[as.integer(g)]))
prop <- ifelse(m > 0, s / pmax(m, 1), 0)
# the zero-weight rows get proportions that would move the fit if they counted
prop[c(3, 17, 18, 40, 77)] <- c(1, 0, 1, 0.5, 1)
d <- data.frame(prop = prop, m = m, s = s, x = x, g = g)
add("binomial_zero_weights", "binomial proportions with weights = trials, 5 rows of weight 0",
    d, quote(glmer(prop ~ x + (1 | g), d, family = binomial, weights = m)))
add("binomial_zero_weights_dropped", "the same without the zero-weight rows, as cbind(s, m - s)",
    d[m > 0, ], quote(glmer(cbind(s, m - s) ~ x + (1 | g), d, family = binomial)))

# a convergence check that fails: the optimizer stopped after a few evaluations
add("convergence_maxfun", "binomial slopes, second optimizer stage stopped after 15 evaluations",
    cases$binomial_zero_weights$data,
    quote(glmer(cbind(s, m - s) ~ x + (x | g), d, family = binomial,
                control = glmerControl(optCtrl = list(maxfun = 15)))))

# column names with dots, spaces and non-ASCII letters
set.seed(607)
n <- 80
g <- grp(n, 8)
d <- data.frame(x = round(rnorm(n), 3), z = round(runif(n), 3), g = g)
d$y <- rbinom(n, 1, plogis(0.3 + 0.8 * d$x - 0.5 * d$z + rnorm(8, sd = 1.5)[as.integer(g)]))
names(d) <- c("dose.mg", "my x", "sub ject", "größe")
add("names", "binomial with columns 'dose.mg', 'my x', 'sub ject' (group), 'größe' (response)",
    d, quote(glmer(größe ~ dose.mg + `my x` + (1 | `sub ject`), d, family = binomial)))

result_of <- function(fit) {
  se <- sqrt(diag(as.matrix(vcov(fit))))
  re <- ranef(fit)
  list(
    fixef = as.list(fixef(fit)), fixef_names = I(names(fixef(fit))),
    se = as.list(setNames(se, names(fixef(fit)))),
    theta = I(unname(getME(fit, "theta"))),
    objective = -2 * as.numeric(logLik(fit)),
    deviance = deviance(fit),
    nobs = nobs(fit),
    singular = isSingular(fit),
    ranef = lapply(re, function(r) list(levels = I(rownames(r)), columns = I(colnames(r)),
                                        values = lapply(seq_len(nrow(r)), function(i)
                                          I(unname(as.numeric(r[i, ])))))),
    conv_messages = I(as.character(unlist(fit@optinfo$conv$lme4$messages))))
}

res <- list()
for (cs in cases) {
  d <- cs$data
  cap <- tryCatch(capture(eval(cs$call)), error = function(e) list(error = conditionMessage(e)))
  entry <- list(id = cs$id, what = cs$what, call = paste(deparse(cs$call, width.cutoff = 500), collapse = " "),
                lme4 = as.character(packageVersion("lme4")),
                data = lapply(d, function(v) if (is.factor(v)) I(as.character(v)) else I(v)))
  if (!is.null(cap$error)) {
    entry$error <- cap$error
  } else {
    entry$error <- NULL
    entry$warnings <- I(cap$warnings)
    entry$messages <- I(cap$messages)
    entry <- c(entry, result_of(cap$value))
  }
  res[[cs$id]] <- entry
}

# lme4's post-fit Hessian check alone (its internal checkConv, with a zero gradient):
# which message each eigenvalue pattern gets
hessians <- list(c(1e7, 1), c(2e6, 1e6), c(1.1e6, 1), c(9e5, 1), c(1, 1e-7), c(1e7, 9e-7),
                 c(1, 2e-6), c(10, 1e-6), c(1e3, 9e-4), c(1e3, 1.1e-3), c(1e5, 1e5), c(-1, 5))
ctrl <- glmerControl()$checkConv
res[["_hessian_check"]] <- list(
  what = "lme4:::checkConv(list(gradient = c(0, 0), Hessian = diag(h)), c(1, 1), glmerControl()$checkConv, lbound = c(-Inf, -Inf))",
  cases = lapply(hessians, function(h) {
    r <- suppressWarnings(lme4:::checkConv(list(gradient = c(0, 0), Hessian = diag(h)), c(1, 1), ctrl,
                                           lbound = c(-Inf, -Inf)))
    list(diag = I(h), messages = I(as.character(unlist(r$messages))))
  }))
write_json_file(res, out)
