# Fit a list of models with lme4 and write their results as JSON (reference values
# for pymer's tests; only numbers produced by R end up in the JSON).
#
# usage: Rscript refgen.R MODELS.R DATA_DIR OUT.json [TYPES.json]
#   MODELS.R  defines `models`: a list of list(id, data, call, [prep, prep_desc,
#             data_dir]). `call` is an expression over `d`, the prepared data frame.
#             `prep` (optional) is a function(d) -> d applied after loading;
#             `prep_desc` says in words what it does (written to the JSON as "prep").
#             `data_dir` (optional) overrides DATA_DIR for that model, relative to
#             the directory of this script (e.g. "../data" for simulated data).
#   DATA_DIR  directory with <data>.csv (e.g. ../../../shared/data or
#             ../../src/pymer/datasets/data)
#   TYPES     lme4_datasets_types.json; default DATA_DIR/lme4_datasets_types.json
suppressMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 3) stop("usage: Rscript refgen.R MODELS.R DATA_DIR OUT.json [TYPES.json]")
source(args[1])
data_dir <- args[2]
types <- read_types(if (length(args) >= 4) args[4] else file.path(data_dir, "lme4_datasets_types.json"))

# per grouping factor: list(levels, columns, values) with values a levels x columns
# matrix; with max_levels, only the first max_levels levels (n_levels says how many
# there are in all)
by_group <- function(x, max_levels = Inf) {
  n <- nrow(x)
  if (n > max_levels) x <- x[seq_len(max_levels), , drop = FALSE]
  out <- list(levels = I(rownames(x)), columns = I(colnames(x)), values = unname(as.matrix(x)))
  if (n > max_levels) out$n_levels <- n
  out
}

# conditional standard deviations of the random effects, laid out like ranef()
condsd <- function(fit) {
  re <- ranef(fit, condVar = TRUE)
  df <- as.data.frame(re)
  lapply(setNames(names(re), names(re)), function(g) {
    x <- re[[g]]
    out <- matrix(NA_real_, nrow(x), ncol(x), dimnames = dimnames(x))
    sub <- df[df$grpvar == g, ]
    out[cbind(match(as.character(sub$grp), rownames(x)),
              match(as.character(sub$term), colnames(x)))] <- sub$condsd
    by_group(out)
  })
}

res <- list()
for (m in models) {
  dd <- if (is.null(m$data_dir)) data_dir else file.path(script_dir, m$data_dir)
  d <- load_data(m$data, dd, types)
  if (!is.null(m$prep)) d <- m$prep(d)
  cap <- capture(eval(m$call))
  fit <- cap$value
  glmm <- isGLMM(fit)
  vc <- as.data.frame(VarCorr(fit))
  vcv <- as.matrix(vcov(fit))
  re <- ranef(fit)
  r <- list(
    id = m$id, data = m$data,
    data_dir = if (is.null(m$data_dir)) NA else "tests/data",   # null: lme4/shared data
    prep = if (is.null(m$prep_desc)) NA else m$prep_desc,         # null: no prep
    call = deparse1(m$call), lme4 = as.character(packageVersion("lme4")),
    REML = isREML(fit), glmm = glmm,
    family = if (glmm) family(fit)$family else "gaussian",
    link = if (glmm) family(fit)$link else "identity",
    objective = if (isREML(fit)) REMLcrit(fit) else -2 * as.numeric(logLik(fit)),
    neg2loglik = -2 * as.numeric(logLik(fit)),
    loglik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"),
    AIC = AIC(fit), BIC = BIC(fit),
    nobs = nobs(fit), ngrps = as.list(ngrps(fit)),
    theta = I(unname(getME(fit, "theta"))), theta_names = I(names(getME(fit, "theta"))),
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(vcv))),
    vcov = unname(vcv),
    corr_fixef = unname(cov2cor(vcv)),
    coef_table = tab(summary(fit)$coefficients),
    sigma = sigma(fit),
    varcorr = lapply(seq_len(nrow(vc)), function(i) as.list(vc[i, ])),
    ranef = lapply(re, by_group),
    ranef_condsd = condsd(fit),
    # coef() is fixef + ranef; for big factors (InstEval) only the first 100 levels
    coef = lapply(coef(fit), by_group, max_levels = 100),
    fitted_head = I(unname(head(fitted(fit), 10))),
    predict_head = I(unname(head(predict(fit), 10))),
    predict_response_head = if (glmm) I(unname(head(predict(fit, type = "response"), 10))) else NULL,
    resid_head = I(unname(head(residuals(fit), 10))),
    resid_quantiles = I(unname(quantile(residuals(fit, type = "pearson", scaled = TRUE),
                                        c(0, .25, .5, .75, 1)))),
    # deviance() of a REML fit is the REML criterion (lme4 warns); of a GLMM, the sum
    # of squared deviance residuals
    deviance = suppressWarnings(deviance(fit)),
    df_residual = df.residual(fit),
    nAGQ = if (glmm) unname(getME(fit, "devcomp")$dims[["nAGQ"]]) else NULL,
    singular = isSingular(fit), is_singular = isSingular(fit),
    dropped_fixef = I(as.character(names(attr(getME(fit, "X"), "col.dropped")))),
    optimizer = I(as.character(fit@optinfo$optimizer)),
    optimizer_warnings = I(c(cap$warnings, cap$messages)),
    conv_messages = I(as.character(unlist(fit@optinfo$conv$lme4$messages))),
    seconds = cap$seconds
  )
  if (glmm && grepl("Negative Binomial", family(fit)$family)) r$nb_theta <- getME(fit, "glmer.nb.theta")
  res[[m$id]] <- r[!vapply(r, is.null, logical(1))]
  cat(sprintf("%-36s %8.3f s  obj=%.10g%s\n", m$id, cap$seconds, r$objective,
              if (length(r$optimizer_warnings)) "  [warned]" else ""))
}
write_json_file(res, args[3])
