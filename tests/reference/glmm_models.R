# Generalized linear mixed models (glmer, glmer.nb) for glmm.json. Same layout as
# lmm_models.R. Entries with data_dir = "../data" read the simulated CSV files that
# simdata.R writes to tests/data (run simdata.R first).

models <- list(
  ## -- from the seed lectures (same ids as seed_models.json) --
  list(id = "lamprey_juvenile_detect", data = "lamprey_lab_DNA",
       call = quote(glmer(Detect ~ factor(DNA) + Fluor + (1 | tank), data = d, family = binomial("logit")))),
  list(id = "sites_counts_nb", data = "robinson_sites_counts",
       call = quote(glmer.nb(y ~ x + (x | site), data = d))),

  ## -- binomial: cbpp, number of trials = size --
  list(id = "cbpp_binomial", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d,
                          family = binomial, nAGQ = 1))),
  list(id = "cbpp_binomial_nAGQ0", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d,
                          family = binomial, nAGQ = 0))),
  list(id = "cbpp_binomial_nAGQ9", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d,
                          family = binomial, nAGQ = 9))),
  list(id = "cbpp_probit", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d,
                          family = binomial(link = "probit")))),
  list(id = "cbpp_cloglog", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d,
                          family = binomial(link = "cloglog")))),
  # proportions with prior weights = trials (same fit as cbpp_binomial)
  list(id = "cbpp_proportion_weights", data = "cbpp",
       call = quote(glmer(incidence / size ~ period + (1 | herd), data = d,
                          family = binomial, weights = size))),
  # logical (TRUE/FALSE) response; singular
  list(id = "cbpp_logical_response", data = "cbpp",
       call = quote(glmer(I(incidence > 0) ~ period + (1 | herd), data = d, family = binomial))),
  # random slope of a numeric covariate in a binomial model
  list(id = "cbpp_binomial_slope", data = "cbpp",
       call = quote(glmer(cbind(incidence, size - incidence) ~ as.numeric(period) +
                            (as.numeric(period) | herd), data = d, family = binomial))),
  # binary factor response (r2: N/Y; the first level N is "failure"), crossed id x item
  list(id = "verbagg_binomial", data = "VerbAgg",
       call = quote(glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), data = d,
                          family = binomial))),
  # simulated 0/1 data with a correlated random intercept and slope
  list(id = "binom_slopes_sim", data = "binom_slopes_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (x | grp), data = d, family = binomial))),

  ## -- Poisson --
  list(id = "grouseticks_poisson", data = "grouseticks",
       call = quote(glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                          data = d, family = poisson))),
  list(id = "cbpp_poisson_offset", data = "cbpp",
       call = quote(glmer(incidence ~ period + offset(log(size)) + (1 | herd), data = d,
                          family = poisson))),
  list(id = "cbpp_poisson_sqrt", data = "cbpp",
       call = quote(glmer(incidence ~ period + (1 | herd), data = d, family = poisson(link = "sqrt")))),
  list(id = "grouseticks_poisson_sqrt", data = "grouseticks",
       call = quote(glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION), data = d,
                          family = poisson(link = "sqrt")))),
  # nutrient and rack are integer columns used as numeric; gen (integer) as grouping
  list(id = "arabidopsis_poisson", data = "Arabidopsis",
       call = quote(glmer(total.fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen),
                          data = d, family = poisson))),

  ## -- negative binomial --
  list(id = "grouseticks_nb", data = "grouseticks",
       call = quote(glmer.nb(TICKS ~ YEAR + scale(HEIGHT) + (1 | LOCATION), data = d))),

  ## -- Gamma and inverse Gaussian (simulated, see simdata.R) --
  list(id = "gamma_log", data = "gamma_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + trt + (1 | grp), data = d, family = Gamma(link = "log")))),
  list(id = "gamma_inverse", data = "gamma_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + trt + (1 | grp), data = d, family = Gamma(link = "inverse")))),
  list(id = "invgauss_log", data = "invgauss_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = inverse.gaussian(link = "log")))),
  # (the canonical 1/mu^2 link stops with "PIRLS loop resulted in NaN value" here)
  list(id = "invgauss_inverse", data = "invgauss_sim", data_dir = "../data",
       call = quote(glmer(y ~ x + (1 | grp), data = d, family = inverse.gaussian(link = "inverse"))))
)
