//! Offline decryption of records exported from an InCountry point of presence.
//!
//! Run it with no arguments to decrypt a record written by the official SDKs (taken from their
//! public compatibility tests; password `password`, environment `InCountry`):
//!
//! ```sh
//! cargo run --example offline_decrypt
//! ```
//!
//! or point it at your own secrets file (the official secrets JSON, or a JSON string) and an
//! export with one record per line, as the API returns them:
//!
//! ```sh
//! cargo run --example offline_decrypt -- secrets.json export.jsonl
//! ```
//!
//! No network, no server: only `incountry-crypto`.

use std::error::Error;
use std::io::{BufRead, BufReader};

use incountry_crypto::{Crypto, SecretsData, decrypt_record, hash_key};
use serde_json::{Map, Value};

/// A record as a server stores it, written by an official SDK (version 0, password `password`).
const OFFICIAL_RECORD: &str = r#"{"record_key": "976143aa1fd12b9ad7449fd9d3a6d25347d71b890b49d4fb5c738e798238865f", "profile_key": "f5b5ae4914972ace070fa51b410789324abe063dbe2bb09801410d9ab54bf833", "range_key1": 100500, "range_key2": 10050, "range_key3": 1005, "range_key4": 100, "range_key5": 10, "range_key6": 1, "range_key7": 10, "range_key8": 100, "range_key9": 1005, "range_key10": 10050, "service_key1": "b2d95d1ccfeb1a17c99b74685f7fd4c33647b97cb0559c267a4afcd6f649f3a8", "service_key2": "9bbc39b2617cbd9fc0290f93c7bbd1772f1a2a45f48ae8dc1a9544d75159c7a2", "key1": "daf5914655dc36b7f6f31a97a05205106fdbd725e264235e9e8b31c66489e7ed", "key2": "abcb2ad9e9e0b1787f262b014f517ad1136f868e7a015b1d5aa545b2f575640d", "key3": "1102ae53e55f0ce1d802cc8bb66397e7ea749fd8d05bd2d4d0f697cedaf138e3", "key4": "08a46eb74e0621208a41cf982b9da83e564a1d448997c5c912477ff79ec4c0e3", "key5": "cb86e1358566c9f6c1a52106b32a085b5f02aa8330d3f538ddf55cd599a320f7", "key6": "5048f7bae5308ca05006ef63025d4243beddbf431f7eff43ac927e471656d1ed", "key7": "aa9e0b00099734cafeda1b13393422a381596dc3fd189ee598791fa95f46bce4", "key8": "54933d4eb2e2d2c1e7ab9344e23a233ee9c537876929d5e265d45ae789b03f6c", "key9": "c0e91efa56683cf7f1f0f99b2791e4719e7f70018c6e3938ebaff5735d3c275f", "key10": "9f54258b7136a70f61891f162243e11930d5cedb3ca89682bab9f28fbedda9b6", "precommit_body": "2:iqFsqhqby5rX5YAsFnboXoMwSBX7b8JSybs6INJTSMNBSZIulv44hyYw2XlENtOWTCV1Sn1uzM4H4ekTy3vXhTyzbndWBdSWNXcT8mLUDZcByyGJhKunvuvr9B1Bk5GghNzuEvriVsV08LEg", "body": "2:0Xxd0QYOXstTmrA1Erqm6F/jxt83IHFFHqJPf+QuMpwOObh+OaJ1hCjLLGi2GVnBXENQ5sIt92ayemBXr5JEY2CNUI9lp18gOim+aXveWH1FN8yk5HYqoSyOb5CkJHvp73+AaFmpzTJA3Zxy7z7rfZE2ByCwGtX454iY35jQcUGr1Zpo3m4BX2Y8Rc+RYvAO0J+1y6iDnaNk228d0QwDK4VRISslct+vp7T+O/fnOuyTZzoy/2IoUuvHpkhGsKB2sA+elqCMHz64HGlbGL1OWMmChmQ4R3Ax+/ddzd3xorUQdyz0S1L0YoByE/vCAgGMCkXkQ7kSnqFsRLyJPK4tZWen+G7pt4SdLHoD60vh8QrGtPXVQe4P9HeNCwZXOyhpZbTKvHRXIzsmzGud7Z6rU4DGSBEoeWXcVKIgQ7H0sBCHFZ6ixsw0fb/ciw66HGS/06tyjrWyMsq7HsaOkL01bzaRM9SMeZZskHDGsi4fOvt498SvKF2VT28PMWH8h4Wj24q7o18Ms7NrhnkqDql11FsKLb/O6hcKo5c9GzsSkYN+7KoPwHcj+eWs0Odu4BL2xq7VJiIjCw+25pqlXSpyKV0QTUSXI31VTNoqRRMpBlM06n4SC6SidQfRiiWXqptJEhLA9g==", "version": 0, "is_encrypted": true}"#;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (secrets, records) = match args.as_slice() {
        [] => (
            SecretsData::from_password("password")?,
            vec![OFFICIAL_RECORD.to_owned()],
        ),
        [secrets, export] => {
            let secrets = SecretsData::from_json(std::fs::read_to_string(secrets)?.trim())?;
            let lines = BufReader::new(std::fs::File::open(export)?)
                .lines()
                .collect::<Result<Vec<_>, _>>()?;
            (secrets, lines)
        }
        _ => return Err("usage: offline_decrypt [SECRETS_FILE EXPORT_FILE]".into()),
    };
    let crypto = Crypto::new(secrets)?;
    for (number, line) in records
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let stored: Map<String, Value> = serde_json::from_str(line)?;
        match decrypt_record(&crypto, &stored) {
            Ok(plain) => print_record(number + 1, &stored, &plain),
            Err(e) => eprintln!("record {}: {e}", number + 1),
        }
    }
    Ok(())
}

fn print_record(number: usize, stored: &Map<String, Value>, plain: &Map<String, Value>) {
    let key = plain["record_key"].as_str().unwrap_or("?");
    println!("record {number}: {key}");
    println!("  stored record_key {}", stored["record_key"]);
    // The blind index is reproducible from the plain key and the environment id.
    if number == 1 && key == "InCountryKey" {
        println!(
            "  hash_key(\"InCountryKey\", \"InCountry\") = {}",
            hash_key(key, "InCountry", false)
        );
    }
    for (field, value) in plain {
        if field != "record_key" && !value.is_null() {
            println!("  {field}: {value}");
        }
    }
}
