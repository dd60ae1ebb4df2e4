# R's family objects evaluated on a grid of eta, for family_links.json: per family/link
# pair that glmer accepts, mu = linkinv(eta), mu.eta(eta), variance(mu),
# dev.resids(y, mu, wt) and aic(y, n, mu, wt, dev) (R's -2 log-likelihood up to the
# dispersion's +2). The grids include the tails where R's links clamp (cauchit, probit,
# logit, cloglog at |eta| up to 1e16).
#
# usage (from tests/reference): Rscript family_links.R family_links.json
script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))
args <- commandArgs(TRUE)
out <- if (length(args)) args[1] else "family_links.json"

wide <- c(-1e16, -1e10, -1e8, -1e3, -40, -10, -2, -0.3, 0, 0.5, 3, 12, 40, 1e3, 1e8, 1e10, 1e16)
pos <- c(0.05, 0.2, 0.5, 1, 2, 7.5, 30)
neg_log <- c(-12, -5, -2, -0.7, -0.1, -1e-3)
cases <- list(
  list(family = "binomial", link = "logit", eta = wide),
  list(family = "binomial", link = "probit", eta = wide),
  list(family = "binomial", link = "cloglog", eta = c(wide[abs(wide) < 1e3], -800, 800)),
  list(family = "binomial", link = "cauchit", eta = wide),
  list(family = "binomial", link = "log", eta = c(-800, -40, neg_log)),
  list(family = "poisson", link = "log", eta = c(-800, -40, -3, 0, 1.5, 5, 20)),
  list(family = "poisson", link = "sqrt", eta = pos),
  list(family = "poisson", link = "identity", eta = pos),
  list(family = "Gamma", link = "inverse", eta = pos),
  list(family = "Gamma", link = "log", eta = c(-5, -1, 0, 1.5, 5)),
  list(family = "Gamma", link = "identity", eta = pos),
  list(family = "inverse.gaussian", link = "1/mu^2", eta = pos),
  list(family = "inverse.gaussian", link = "log", eta = c(-5, -1, 0, 1.5, 5)),
  list(family = "inverse.gaussian", link = "inverse", eta = pos),
  list(family = "inverse.gaussian", link = "identity", eta = pos),
  list(family = "gaussian", link = "log", eta = c(-5, -1, 0, 1.5, 5)),
  list(family = "gaussian", link = "inverse", eta = c(-2, -0.5, pos)),
  list(family = "gaussian", link = "identity", eta = c(-3, 0, 2.5))
)

res <- list()
for (cs in cases) {
  fam <- get(cs$family)(link = cs$link)
  eta <- cs$eta
  n <- length(eta)
  mu <- fam$linkinv(eta)
  set.seed(1)
  # a response in the family's support and prior weights (binomial: trials)
  wt <- rep(c(1, 2, 5), length.out = n)
  y <- switch(cs$family,
    binomial = round(runif(n) * wt) / wt,
    poisson = rpois(n, pmin(mu, 1e6)),
    gaussian = mu + rnorm(n),
    pmax(mu * exp(rnorm(n, 0, 0.3)), 1e-3))
  dev <- fam$dev.resids(y, mu, wt)
  res[[paste(cs$family, cs$link, sep = "_")]] <- list(
    family = cs$family, link = cs$link,
    eta = I(eta), y = I(y), wt = I(wt),
    mu = I(mu), mu_eta = I(fam$mu.eta(eta)), variance = I(fam$variance(mu)),
    dev_resids = I(dev), aic = fam$aic(y, wt, mu, wt, sum(dev)))
}
write_json_file(res, out)
