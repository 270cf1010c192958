//! Every model in the registry is present on the default search path with its registered
//! size and sha256 (`scripts/fetch-models` puts them in `.cache/models`).

#[test]
fn every_registered_model_is_present_and_verified() {
    for model in models::ALL {
        match model.verify() {
            Ok(path) => eprintln!("{}: {} verified", model.id, path.display()),
            Err(error) => panic!("{error}"),
        }
    }
}
