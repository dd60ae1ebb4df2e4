# Printed summaries and printed fits of lme4 models, as text, for pymer's tests of
# its summary layout (tests/test_summary.py, tests/test_glmm_summary.py).
#
# usage: Rscript summaries.R DATA_DIR OUT.json [TYPES.json]
#
# For each model: `summary` = the lines of print(summary(fit)), `print` = the lines
# of print(fit). The data frame is bound to a variable named after the data set
# (cbpp, grouseticks, ...), so the "Data:" line reads as pymer's does for
# pymer.datasets.load(<name>). Simulated data (data_dir "../data") are bound to `d`.
# `values` holds the estimates behind the printed numbers (theta, fixef, vcov,
# sigma, objective = REML criterion or -2 logLik, AIC, BIC, logLik, df.resid,
# quantiles of the scaled Pearson residuals, NB theta), so that a test can print
# lme4's own estimates with pymer's formatter; `tidy` is broom.mixed's tidy(fit)
# (effects fixed and ran_pars). Entries with `ddf` are lmerTest fits and their
# summary(fit, ddf = ddf).
suppressMessages({library(lme4); library(broom.mixed)})
# lmerTest is loaded, not attached: lmer() stays lme4's; lmerTest::lmer() for its entries
suppressMessages(requireNamespace("lmerTest"))
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(width = 80, useFancyQuotes = FALSE)

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript summaries.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))

models <- list(
  list(id = "cbpp_binomial", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                          data = cbpp, family = binomial))),
  list(id = "cbpp_binomial_nAGQ0", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                          data = cbpp, family = binomial, nAGQ = 0))),
  list(id = "cbpp_binomial_nAGQ9", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                          data = cbpp, family = binomial, nAGQ = 9))),
  list(id = "lamprey_juvenile_detect", data = "lamprey_lab_DNA",
       call = quote(glmer(Detect ~ factor(DNA) + Fluor + (1 | tank), data = lamprey_lab_DNA,
                          family = binomial("logit")))),
  list(id = "sites_counts_nb", data = "robinson_sites_counts",
       call = quote(glmer.nb(y ~ x + (x | site), data = robinson_sites_counts))),
  list(id = "grouseticks_poisson", data = "grouseticks",
       call = quote(glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                          data = grouseticks, family = poisson))),
  list(id = "gamma_log", data = "gamma_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + trt + (1 | grp), data = d, family = Gamma(link = "log")))),
  list(id = "invgauss_log", data = "invgauss_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = inverse.gaussian(link = "log")))),
  list(id = "gaussian_log", data = "gamma_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + trt + (1 | grp), data = d, family = gaussian(link = "log")))),
  # singular fits (lme4 adds the optimizer's code and the boundary message)
  list(id = "cbpp_logical_response", data = "cbpp",
       call = quote(glmer(I(incidence > 0) ~ period + (1 | herd), data = cbpp, family = binomial))),
  list(id = "dyestuff2_REML", data = "Dyestuff2",
       call = quote(lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff2))),
  list(id = "dyestuff_REML", data = "Dyestuff",
       call = quote(lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff))),
  list(id = "sleepstudy_slopes_ML", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = FALSE))),
  # three correlated random effects: a VarCorr with two correlation columns
  list(id = "sleepstudy_quadratic", data = "sleepstudy",
       call = quote(lmer(Reaction ~ Days + I(Days^2) + (Days + I(Days^2) | Subject), data = sleepstudy))),
  # lmerTest's summary (t tests with Satterthwaite's or Kenward-Roger's df): `ddf`
  list(id = "lmertest_sleepstudy_ML_satterthwaite", data = "sleepstudy", ddf = "Satterthwaite",
       call = quote(lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = FALSE))),
  list(id = "lmertest_cake_kenward_roger", data = "cake", ddf = "Kenward-Roger",
       call = quote(lmerTest::lmer(angle ~ recipe + temp + (1 | replicate), data = cake))),
  # crossed random effects, several fixed-effect names to abbreviate
  list(id = "verbagg_binomial", data = "VerbAgg",
       call = quote(glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), data = VerbAgg,
                          family = binomial)))
)

lines_of <- function(x) capture.output(print(x))
# a data frame as column name -> vector (character columns stay character, NA -> null)
columns <- function(df) lapply(df, function(x) if (is.numeric(x)) I(x) else I(as.character(x)))

res <- list()
for (m in models) {
  dd <- if (is.null(m$data_dir)) data_dir else file.path(script_dir, m$data_dir)
  d <- load_data(m$data, dd, types)
  env <- new.env()
  assign(if (is.null(m$data_dir)) m$data else "d", d, envir = env)
  cap <- capture(eval(m$call, env))
  fit <- cap$value
  res[[m$id]] <- list(
    id = m$id, data = m$data,
    data_dir = if (is.null(m$data_dir)) NA else "tests/data",
    call = deparse1(m$call), lme4 = as.character(packageVersion("lme4")),
    ddf = if (is.null(m$ddf)) NA else m$ddf,
    summary = I(lines_of(if (is.null(m$ddf)) summary(fit) else summary(fit, ddf = m$ddf))),
    values = list(
      REML = isREML(fit), glmm = isGLMM(fit),
      theta = I(unname(getME(fit, "theta"))), fixef = I(unname(fixef(fit))),
      fixef_names = I(names(fixef(fit))),
      vcov = unname(as.matrix(vcov(fit))), sigma = sigma(fit),
      objective = if (isREML(fit)) REMLcrit(fit) else -2 * as.numeric(logLik(fit)),
      AIC = AIC(fit), BIC = BIC(fit), logLik = as.numeric(logLik(fit)),
      df_resid = df.residual(fit),
      resid_quantiles = I(unname(quantile(residuals(fit, "pearson", scaled = TRUE)))),
      nb_theta = if (isGLMM(fit) && grepl("^Negative Binomial", family(fit)$family))
        getME(fit, "glmer.nb.theta") else NA
    ),
    tidy = columns(as.data.frame(tidy(fit, effects = c("fixed", "ran_pars")))),
    print = I(lines_of(fit)),
    warnings = I(c(cap$warnings, cap$messages))
  )
}
write_json_file(res, args[2])
