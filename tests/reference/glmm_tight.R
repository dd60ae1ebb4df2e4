# lme4's GLMM fits of glmm_models.R refitted with a tight PIRLS tolerance
# (glmerControl(tolPwrss = 1e-12), or looser where that fails, instead of the
# default 1e-7), for glmm_tight.json.
#
# Why: lme4's default tolPwrss stops PIRLS while the Laplace deviance still moves at
# the 1e-4 level; its finite-difference Hessian (step 1e-4), hence vcov() and the
# standard errors, then carries that error (cbpp: the intercept SE is 0.2312 at the
# default, 0.2325 with a converged PIRLS; the objective drops by 5.7e-4). pymer
# runs PIRLS to convergence, so its standard errors are compared with these.
#
# usage: Rscript glmm_tight.R DATA_DIR OUT.json [TYPES.json [MODELS.R]]   (from tests/reference)
#   MODELS.R: the model list (default glmm_models.R; glmm_links.R for glmm_links_tight.json)
suppressMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript glmm_tight.R DATA_DIR OUT.json [TYPES.json [MODELS.R]]")
source(if (length(args) >= 4) args[4] else file.path(script_dir, "glmm_models.R"))
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))

res <- list()
for (m in models) {
  dd <- if (is.null(m$data_dir)) data_dir else file.path(script_dir, m$data_dir)
  d <- load_data(m$data, dd, types)
  if (!is.null(m$prep)) d <- m$prep(d)
  # 1e-12; where lme4's PIRLS then stops on its iteration limit (grouseticks_nb's
  # theta search), the first of 1e-10, 1e-9, 1e-8 that works
  for (tol in c(1e-12, 1e-10, 1e-9, 1e-8)) {
    call <- m$call
    call$control <- bquote(glmerControl(tolPwrss = .(tol)))
    cap <- tryCatch(capture(eval(call)), error = function(e) NULL)
    if (!is.null(cap)) break
  }
  fit <- cap$value
  vcv <- as.matrix(vcov(fit))
  r <- list(
    id = m$id, call = deparse1(call), tolPwrss = tol,
    objective = -2 * as.numeric(logLik(fit)),
    theta = I(unname(getME(fit, "theta"))),
    fixef = as.list(fixef(fit)),
    se = as.list(sqrt(diag(vcv))),
    vcov = unname(vcv),
    warnings = I(c(cap$warnings, cap$messages))
  )
  if (grepl("Negative Binomial", family(fit)$family)) r$nb_theta <- getME(fit, "glmer.nb.theta")
  res[[m$id]] <- r
  cat(sprintf("%-30s obj=%.10g%s\n", m$id, r$objective, if (length(r$warnings)) "  [warned]" else ""))
}
write_json_file(res, args[2])
