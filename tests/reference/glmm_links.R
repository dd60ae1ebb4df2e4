# GLMMs (glmer) with the family/link pairs that glmm_models.R lacks, for glmm_links.json
# (refgen.R) and glmm_links_tight.json (glmm_tight.R with this file as MODELS.R).
# Same layout as glmm_models.R; data_dir = "../data" reads the CSV files that simdata.R
# writes to tests/data. glmm.json already has binomial logit/probit/cloglog, Poisson
# log/sqrt, Gamma log/inverse, inverse Gaussian log/inverse.

models <- list(
  ## -- binomial: cbpp (incidence / size is 0-0.6, mostly below 0.2, so the log link's
  ##    mu = exp(eta) stays below 1) --
  list(id = "cbpp_cauchit", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d,
                          family = binomial(link = "cauchit")))),
  list(id = "cbpp_binomial_log", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d,
                          family = binomial(link = "log")))),

  ## -- Poisson, identity link (simulated counts around 20; on cbpp and grouseticks lme4
  ##    stops with "PIRLS loop resulted in NaN value") --
  list(id = "poisson_identity", data = "poisson_identity_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = poisson(link = "identity")))),

  ## -- Gamma, identity link (the data of gamma_log / gamma_inverse) --
  list(id = "gamma_identity", data = "gamma_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + trt + (1 | grp), data = d, family = Gamma(link = "identity")))),

  ## -- inverse Gaussian: canonical 1/mu^2 link on data simulated with it (on
  ##    invgauss_sim lme4 stops with "PIRLS loop resulted in NaN value"), identity link
  ##    on invgauss_sim --
  list(id = "invgauss_canonical", data = "invgauss_canonical_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = inverse.gaussian(link = "1/mu^2")))),
  list(id = "invgauss_identity", data = "invgauss_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = inverse.gaussian(link = "identity")))),

  ## -- gaussian with a non-identity link (glmer, not lmer); a log-linear mean plus
  ##    normal noise (on gamma_sim lme4 warns max|grad| 0.041 (log) and 0.093 (inverse)) --
  list(id = "gaussian_sim_log", data = "gaussian_log_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = gaussian(link = "log")))),
  list(id = "gaussian_sim_inverse", data = "gaussian_log_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = gaussian(link = "inverse"))))
)
